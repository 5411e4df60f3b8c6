package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// pprofFiles are the hidden --cpuprofile and --memprofile flags: where to
// write pprof profiles of the whole command, to find where up's time and
// memory go (go tool pprof FILE).
type pprofFiles struct {
	cpu, mem string
	cpuFile  *os.File
}

// start begins the CPU profile.
func (p *pprofFiles) start() error {
	if p.cpu == "" {
		return nil
	}
	f, err := os.Create(p.cpu)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	p.cpuFile = f
	return nil
}

// stop ends the CPU profile and writes the heap profile: allocations
// since start (alloc_space) and what is live at the end (inuse_space).
func (p *pprofFiles) stop() error {
	var errs []error
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cpu profile: %w", err))
		}
		p.cpuFile = nil
	}
	if p.mem != "" {
		f, err := os.Create(p.mem)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("memory profile: %w", err))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
