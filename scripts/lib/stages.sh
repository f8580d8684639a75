# Sourced by scripts/test-compose and scripts/test-k8s: named stages, and their times printed at
# the end whether the run passed or not.
timings=() stage_name="" stage_start=0 started_at=$SECONDS
end_stage() {
  [ -n "$stage_name" ] && timings+=("$(printf '  %-48s %4ss' "$stage_name" $((SECONDS - stage_start)))")
  stage_name=""
}
stage() { end_stage; stage_name="$1"; stage_start=$SECONDS; say "$1"; }
print_timings() {
  end_stage
  say "stage timings:"
  printf '%s\n' "${timings[@]}"
  printf '  %-48s %4ss\n' total $((SECONDS - started_at))
}
