# test/upstream/build.bash: sourced by scripts/testcluster. Builds the
# platform programs that `scripts/testcluster start DIR --real=controllers`
# runs for real, each from its own Go module under test/upstream (never
# imported by the product), into $BIN/real. A program is rebuilt only when
# its module's go.mod/go.sum, the Go version or the flags change (a stamp
# per program, by content, so every checkout shares the cache).

# REAL_PROGRAMS: binary|module dir (under test/upstream)|main package.
REAL_PROGRAMS=(
	"cert-manager-controller|cert-manager|./controller"
	"cert-manager-cainjector|cert-manager|./cainjector"
	"cert-manager-webhook|cert-manager|./webhook"
	"kyverno|kyverno|github.com/kyverno/kyverno/cmd/kyverno"
	"kserve-manager|kserve|./manager"
	# Knative Serving v1.23.0 and net-kourier v0.48.0 (the newest the proxy
	# serves; see test/upstream/net-kourier/go.mod).
	"knative-controller|knative-serving|knative.dev/serving/cmd/controller"
	"knative-webhook|knative-serving|knative.dev/serving/cmd/webhook"
	"knative-autoscaler|knative-serving|knative.dev/serving/cmd/autoscaler"
	"knative-activator|knative-serving|knative.dev/serving/cmd/activator"
	"knative-queue|knative-serving|knative.dev/serving/cmd/queue"
	"net-kourier-controller|net-kourier|knative.dev/net-kourier/cmd/kourier"
	# The stand-in for Kourier's Envoy gateway (an xDS client of the above).
	"kourier-gateway-standin|net-kourier|./gateway"
)
REAL_LDFLAGS="-s -w"

# real_wanted ARGS...: true if the start arguments ask for --real=controllers.
real_wanted() {
	local a prev=""
	for a in "$@"; do
		[[ $prev == --real ]] && a="--real=$a"
		case $a in
		--real=*controllers*) return 0 ;;
		esac
		prev=$a
	done
	return 1
}

build_real_controllers() {
	local up=$ROOT/test/upstream entry bin dir pkg stamp
	mkdir -p "$BIN/real"
	exec 8>"$BIN/real/.lock"
	flock 8
	for entry in "${REAL_PROGRAMS[@]}"; do
		IFS='|' read -r bin dir pkg <<<"$entry"
		# The module's own sources count too (cert-manager's mains live here).
		stamp="$(go env GOVERSION) $REAL_LDFLAGS $pkg $( (cd "$up/$dir" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-64)"
		if [[ -x $BIN/real/$bin && $(cat "$BIN/real/.$bin.stamp" 2>/dev/null) == "$stamp" ]]; then
			continue
		fi
		log "building $bin from test/upstream/$dir (cold: several minutes)"
		local started=$SECONDS tmp
		tmp=$(mktemp -d "$BIN/real/.build.XXXXXX")
		(cd "$up/$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$REAL_LDFLAGS" -o "$tmp/$bin" "$pkg") || {
			rm -rf "$tmp"
			die "build of $bin failed"
		}
		mv -f "$tmp/$bin" "$BIN/real/$bin"
		rm -rf "$tmp"
		echo "$stamp" >"$BIN/real/.$bin.stamp"
		log "built $bin in $((SECONDS - started))s"
	done
	exec 8>&-
}

# real_stop DIR: remove the network namespace and veth pair of a bench's
# pods, should its launcher have been killed before it could (see
# test/k8senv/cmd/testcluster/real_netns.go).
real_stop() {
	local ns hostif
	[[ -f $1/netns ]] || return 0
	read -r ns hostif <"$1/netns"
	if [[ $ns == nsb-* ]]; then
		local pod
		# Each pod's own namespace (nsb-<id>-<k>) and its /etc files.
		for pod in /run/netns/"$ns"-*; do
			[[ -e $pod ]] && ip netns delete "${pod##*/}" 2>/dev/null || true
		done
		rm -rf /etc/netns/"$ns"-*
		ip netns delete "$ns" 2>/dev/null || true
		ip link delete "$hostif" 2>/dev/null || true
		rm -f "/run/neuroscale-testcluster/$ns"
	fi
	rm -f "$1/netns"
}
