package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStatus reads a "Name:   N kB" line of /proc/self/status, in bytes (0 if missing).
func procStatus(name string) int64 { return pidStatus("self", name) }

// ProcessPeakRSS is the peak resident set (VmHWM) of the process pid so far, in bytes
// (0 if it is gone or /proc is missing).
func ProcessPeakRSS(pid int) int64 { return pidStatus(strconv.Itoa(pid), "VmHWM") }

// pidStatus reads a "Name:   N kB" line of /proc/<pid>/status, in bytes (0 if missing).
func pidStatus(pid, name string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), name+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// peakRSS is the process's peak resident set (VmHWM) since the last resetPeakRSS.
func peakRSS() int64 { return procStatus("VmHWM") }

// currentRSS is the resident set now (VmRSS).
func currentRSS() int64 { return procStatus("VmRSS") }

// resetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0: "5" > clear_refs), so the
// peak measured covers one phase only.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapSampler records the peak of the Go heap's live bytes (as of the last GC) and of the
// heap's object bytes (live and not yet swept), sampled every 50 ms until stop is called.
type heapSampler struct {
	stop             chan struct{}
	done             chan struct{}
	peakLive, peakIn uint64
	// atPeak is what made up the resident set when it was largest.
	atPeak RSSParts
	// profile, when set, holds the heap profile taken at the peak of live bytes.
	profile *bytes.Buffer
}

func sampleHeap(profile bool) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	if profile {
		h.profile = new(bytes.Buffer)
	}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	go func() {
		defer close(h.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > h.peakLive {
				h.peakLive = v
				if h.profile != nil {
					h.profile.Reset()
					pprof.Lookup("heap").WriteTo(h.profile, 0)
				}
			}
			h.peakIn = max(h.peakIn, samples[1].Value.Uint64())
			if rss := currentRSS(); rss > h.atPeak.RSS {
				h.atPeak = RSSParts{RSS: rss, File: procStatus("RssFile") + procStatus("RssShmem"),
					Go: int64(samples[2].Value.Uint64() - samples[3].Value.Uint64())}
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// RSSParts is what made up a resident set: File the pages of mapped files (the
// executable, SQLite's memory map and WAL index), Go the memory the Go runtime holds
// from the system (its heap, stacks and metadata, less what it released); the rest is
// anonymous memory outside the Go runtime (SQLite's page cache and allocations in
// modernc.org/sqlite's allocator), and Go pages not touched yet count in Go but not
// in RSS.
type RSSParts struct{ RSS, File, Go int64 }

// Other is the anonymous memory outside the Go runtime (at least 0).
func (p RSSParts) Other() int64 { return max(0, p.RSS-p.File-p.Go) }

// Stop ends the sampling and returns the peaks.
func (h *heapSampler) Stop() (live, objects uint64) {
	close(h.stop)
	<-h.done
	return h.peakLive, h.peakIn
}
