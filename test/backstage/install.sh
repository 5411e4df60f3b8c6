#!/usr/bin/env bash
# test/backstage/install.sh: install the test Backstage backend's npm
# packages (package-lock.json, `npm ci`) into a cache outside the
# repository, keyed by the lockfile and Node's major version, and print
# the node_modules directory. A second run with the same lockfile is a
# no-op. CI keeps the cache directory between runs.
#
#   NEUROSCALE_BACKSTAGE_CACHE  cache root (default ~/.cache/neuroscale/backstage)
#
# Install scripts are off (`--ignore-scripts`): the only native module the
# backend loads is isolated-vm (the scaffolder's template sandbox), which is
# then rebuilt from source against the local Node's headers, since neither
# prebuilt binaries (GitHub) nor header downloads (nodejs.org) are reachable
# here. better-sqlite3 is never loaded: the backend runs on PostgreSQL.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NEUROSCALE_BACKSTAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neuroscale/backstage}

die() {
	echo "backstage install: $*" >&2
	exit 1
}

command -v node >/dev/null 2>&1 || die "node not found on PATH (Node 20 or 22 is needed)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
key=$( (cd "$HERE" && sha256sum package.json package-lock.json && echo "node$node_major") | sha256sum | cut -c1-16)
dir=$CACHE/$key
if [[ -f $dir/.installed ]]; then
	echo "$dir/node_modules"
	exit 0
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [[ ! -f $dir/.installed ]]; then
	started=$SECONDS
	tmp=$(mktemp -d "$CACHE/.install.XXXXXX")
	cp "$HERE/package.json" "$HERE/package-lock.json" "$tmp/"
	echo "backstage install: npm ci into $dir" >&2
	(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) || {
		rm -rf "$tmp"
		die "npm ci failed"
	}
	# node-gyp finds the local headers with nodedir (the nodejs package
	# installs them under /usr/include/node).
	nodedir=$(dirname "$(dirname "$(command -v node)")")
	if [[ -f $nodedir/include/node/node.h ]]; then
		export npm_config_nodedir=$nodedir
	fi
	(cd "$tmp" && npm rebuild isolated-vm --foreground-scripts --loglevel=error >&2) || {
		rm -rf "$tmp"
		die "building isolated-vm failed (needs python3, make and a C++ compiler)"
	}
	rm -rf "$dir"
	mv "$tmp" "$dir"
	touch "$dir/.installed"
	echo "backstage install: done in $((SECONDS - started))s" >&2
fi
echo "$dir/node_modules"
