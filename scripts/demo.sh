#!/usr/bin/env bash
# npm run demo (after the build): two guests in every MMU mode, one mmulab compare table each.
# compare exits with the guests' common status, and a guest that passes leaves through the
# debug-exit port with status 1 (QEMU's isa-debug-exit convention, see the README's exit-status
# table), so 1 is success here and anything else ends the demo with that status.
set -uo pipefail
cd "$(dirname "$0")/.."

compare() {
	local status=0
	node dist/emulator/cli/main.js compare "$@" || status=$?
	if [ "$status" -ne 1 ]; then
		echo "demo: mmulab compare $* exited with $status, not 1 (the guest's pass in every mode)" >&2
		exit "$status"
	fi
}

compare build/guests/memtouch.flat --append 1 --backing 4k
compare build/guests/sieve.flat --append 4
