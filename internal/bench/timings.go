package bench

import (
	"sync"
	"time"
)

// timings records when each run's steps were dispatched.
type timings struct {
	mu   sync.Mutex
	runs map[string][]time.Time
}

func newTimings() *timings { return &timings{runs: map[string][]time.Time{}} }

// mark records the dispatch of step (0-based) of run and reports whether it is the first; a
// repeated dispatch keeps the first time.
func (t *timings) mark(run string, step int) (first bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.runs[run]
	for len(ts) <= step {
		ts = append(ts, time.Time{})
	}
	first = ts[step].IsZero()
	if first {
		ts[step] = now
	}
	t.runs[run] = ts
	return first
}

// intervals returns every step's dispatch-to-next-dispatch time.
func (t *timings) intervals() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, ts := range t.runs {
		for i := 1; i < len(ts); i++ {
			if !ts[i].IsZero() && !ts[i-1].IsZero() {
				out = append(out, ts[i].Sub(ts[i-1]))
			}
		}
	}
	return out
}

func summarize(runs, steps int, elapsed time.Duration, t *timings) *Throughput {
	iv := t.intervals()
	secs := elapsed.Seconds()
	return &Throughput{
		Runs: runs, Steps: runs * steps, Seconds: secs,
		StepsPerSec: float64(runs*steps) / secs, RunsPerSec: float64(runs) / secs,
		StepP50: percentile(iv, 50), StepP95: percentile(iv, 95), StepP99: percentile(iv, 99),
	}
}

// watchRSS samples this process's resident memory every 50 ms until the returned function is
// called, which returns the highest sample in MB.
func watchRSS() func() float64 { return watchRSSOf("self") }

// watchRSSOf is watchRSS for the process pid ("self" for this one).
func watchRSSOf(pid string) func() float64 {
	stop := make(chan struct{})
	done := make(chan float64)
	go func() {
		peak := rssMB(pid, "VmRSS")
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
				peak = max(peak, rssMB(pid, "VmRSS"))
			}
		}
	}()
	return func() float64 {
		close(stop)
		return <-done
	}
}

// startAll calls start(i) for i in [0, n) with at most limit calls starting at once; start
// calls release when its start is done (it may keep running, e.g. to wait for a result).
// startAll returns when every call has returned.
func startAll(n, limit int, start func(i int, release func())) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			start(i, release)
		}()
	}
	wg.Wait()
}
