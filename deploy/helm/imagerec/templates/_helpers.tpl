{{- define "imagerec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "imagerec.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* selector labels of one component: (dict "ctx" $ "component" "api") */}}
{{- define "imagerec.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "imagerec.image" -}}{{ .repository }}:{{ .tag }}{{- end -}}

{{- define "imagerec.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-stores" (include "imagerec.fullname" .)) -}}
{{- end -}}

{{/* Non-root, no privilege escalation, nothing writable but the mounted volumes. */}}
{{- define "imagerec.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile: {type: RuntimeDefault}
{{- end -}}
{{- define "imagerec.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{/* scheduling keys of a component's values */}}
{{- define "imagerec.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget: (dict "ctx" $ "component" "api" "pdb" .Values.api.pdb) */}}
{{- define "imagerec.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "imagerec.fullname" .ctx }}-{{ .component }}
  labels: {{- include "imagerec.labels" .ctx | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels: {{- include "imagerec.selector" . | nindent 6 }}
{{- end -}}

{{/* Rolls the API and the workers when their settings or credentials change. */}}
{{- define "imagerec.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/config.yaml") . | sha256sum }}
{{- end -}}
