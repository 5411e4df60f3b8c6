#!/usr/bin/env bash
# baseline.sh: the way the seed platform was installed, as the benchmark's
# baseline. One component after another, each step waiting for the
# previous: `helm upgrade --install --wait` for charts, `kubectl apply
# --server-side` then `kubectl wait` / `rollout status` for manifests.
#
#   baseline.sh install PLAN_DIR   (KUBECONFIG, HELM and KUBECTL in the env)
#   baseline.sh render PLAN_DIR    (helm template + kustomize build only)
#
# PLAN_DIR is written by `bench plan` from neuroscale's own render (same
# values, same manifests); see internal/bench/plan.go for the line format.
# On stdout, one "bench-step COMPONENT SECONDS" line per component, so the
# report can put the baseline's steps beside neuroscale's stages.
set -euo pipefail

mode=$1
plan=$2
: "${HELM:?HELM must name the helm binary}"
: "${KUBECTL:?KUBECTL must name the kubectl binary}"
timeout=${BENCH_STEP_TIMEOUT:-10m}

now() { echo "$EPOCHREALTIME"; }

# apply_manifest applies one file; while the API server refuses it with
# "status unknown for quota" (a quota counting a custom resource created
# before the controller-manager discovered that resource, not recomputed
# until its 5-minute resync), it re-creates that quota, the same remedy
# neuroscale applies, and tries again for up to 2 minutes.
apply_manifest() {
	local f=$1 out q deadline=$((SECONDS + 120))
	while ! out=$("$KUBECTL" apply --server-side --force-conflicts --field-manager=baseline -f "$f" 2>&1 >/dev/null); do
		if [[ $out != *"status unknown for quota: "* ]] || ((SECONDS >= deadline)); then
			echo "$out" >&2
			return 1
		fi
		q=${out#*status unknown for quota: }
		q=${q%%,*}
		"$KUBECTL" get resourcequota --all-namespaces --field-selector "metadata.name=$q" -o yaml |
			"$KUBECTL" replace --force -f - >/dev/null
		sleep 2
	done
}

install() {
	local comp="" started kind a b c d
	finish() {
		[[ -n $comp ]] || return 0
		awk -v c="$comp" -v a="$started" -v b="$(now)" 'BEGIN { printf "bench-step %s %.3f\n", c, b - a }'
	}
	while IFS=$'\t' read -r kind a b c d; do
		case $kind in
		component)
			finish
			comp=$a
			started=$(now)
			;;
		chart)
			"$HELM" upgrade --install "$a" "$c" --namespace "$b" --create-namespace \
				--values "$d" --wait --timeout "$timeout" >/dev/null
			;;
		manifest)
			apply_manifest "$a"
			;;
		crds)
			# shellcheck disable=SC2086 # one name per word
			"$KUBECTL" wait --for=condition=Established --timeout="$timeout" $(printf 'crd/%s ' $a) >/dev/null
			;;
		rollout)
			"$KUBECTL" rollout status "$a/$c" --namespace "$b" --timeout="$timeout" >/dev/null
			;;
		ready)
			"$KUBECTL" wait --for=condition=Ready "$a/$c" --namespace "$b" --timeout="$timeout" >/dev/null
			;;
		*)
			echo "baseline.sh: unknown instruction $kind" >&2
			exit 2
			;;
		esac
	done <"$plan/install.tsv"
	finish
}

render() {
	local kind a b c d
	while IFS=$'\t' read -r kind a b c d; do
		case $kind in
		template)
			"$HELM" template "$a" "$c" --namespace "$b" --values "$d" --include-crds \
				--kube-version "${BENCH_KUBE_VERSION:-v1.33.0}" >/dev/null
			;;
		kustomize)
			"$KUBECTL" kustomize "$a" >/dev/null
			;;
		*)
			echo "baseline.sh: unknown instruction $kind" >&2
			exit 2
			;;
		esac
	done <"$plan/render.tsv"
}

case $mode in
install) install ;;
render) render ;;
*)
	echo "usage: baseline.sh install|render PLAN_DIR" >&2
	exit 2
	;;
esac
