# Stage timings for scripts/test, test-compose and test-k8s: `stage NAME` ends the stage before and
# starts this one; `print_timings` (from an EXIT trap, so a failed run prints them too) lists each
# stage's seconds and the total. Needs common.sh's `say`.
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
