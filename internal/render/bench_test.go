package render

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// BenchmarkRender renders the whole platform with a warm download cache
// (files fetched once, then only re-verified), once with every chart
// through Helm ("helm") and once served from the render cache ("cached",
// what a re-run of `up` with nothing changed pays). Besides wall time it
// reports the CPU time per render and the process's peak resident memory,
// since wall time on a shared 2-core machine says little on its own.
//
//	go test ./internal/render -run '^$' -bench Render -benchtime 10x
func BenchmarkRender(b *testing.B) {
	cache := b.TempDir()
	for _, profile := range []string{"dev", "prod"} {
		for _, mode := range []string{"helm", "cached"} {
			b.Run(profile+"/"+mode, func(b *testing.B) {
				r := resolved(b, profile, catalogtest.MirrorURL(b), cache, config.Components{})
				opts := Options{NoCache: mode == "helm"}
				if _, err := Render(context.Background(), r, opts); err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for b.Loop() {
					if _, err := Render(context.Background(), r, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
			})
		}
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB reads VmHWM, the resident set's high-water mark.
func peakRSSMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
