package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

const callbacksMigration = "bench-callbacks"

// CallbackResult is the callbacks phase: list candidates while callbacks arrive at a steady
// rate for runs that are all open.
type CallbackResult struct {
	Running     int           `json:"running"`
	Rate        float64       `json:"callbacksPerSecondAsked"`
	Callbacks   int           `json:"callbacks"`
	CallbackP50 time.Duration `json:"callbackP50Ns"`
	CallbackP99 time.Duration `json:"callbackP99Ns"`
	List        ReadResult    `json:"list"`
	Errors      int64         `json:"errors"`
}

// callbacks opens e.cfg.Candidates runs whose migrator accepts every dispatch and calls back only
// when told, then for e.cfg.ReadDuration sends e.cfg.CallbackRate succeeded callbacks a second
// (each moves a run to its next step) while e.cfg.ReadClients clients list the candidates.
func (e *env) callbacks(ctx context.Context) (*CallbackResult, error) {
	d, err := e.startDrover(ctx, "callbacks", callbacksMigration, nil)
	if err != nil {
		return nil, err
	}
	defer d.close()
	held := make(chan api.DispatchStepRequest, e.cfg.Candidates*e.cfg.Steps)
	d.stub.hold(held)
	n := e.cfg.Candidates
	var errs atomic.Int64
	startAll(n, e.cfg.StartConcurrency, func(i int, _ func()) {
		url := fmt.Sprintf("%s/migrations/%s/candidates/c%05d/start", d.r.URL, callbacksMigration, i)
		if code, err := post(d.hc, url, struct{}{}); err != nil || code != 202 {
			errs.Add(1)
		}
	})
	// Every run is open once its first dispatch has been accepted.
	deadline := time.Now().Add(5 * time.Minute)
	for len(held) < n-int(errs.Load()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(held) < n-int(errs.Load()) {
		return nil, fmt.Errorf("only %d of %d runs were dispatched within 5 minutes", len(held), n)
	}

	out := &CallbackResult{Running: n, Rate: float64(e.cfg.CallbackRate)}
	var lat []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ep := endpoint{fmt.Sprintf("list candidates (%d running)", n), func() string { return "/migrations/" + callbacksMigration + "/candidates" }}
		out.List = load(ctx, d.r.URL, ep, e.cfg.ReadClients, e.cfg.ReadDuration)
	}()
	tick := time.NewTicker(time.Second / time.Duration(max(e.cfg.CallbackRate, 1)))
	defer tick.Stop()
	end := time.Now().Add(e.cfg.ReadDuration)
	var mu sync.Mutex
	var sent sync.WaitGroup
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		var req api.DispatchStepRequest
		select {
		case req = <-held:
		default:
			continue // every run is between a callback and its next dispatch
		}
		sent.Add(1)
		go func() {
			defer sent.Done()
			ev := api.StepStatusEvent{StepName: req.EventName, CandidateId: req.Candidate.Id, Status: api.StepEventStatusSucceeded, DispatchId: req.DispatchId}
			t0 := time.Now()
			code, err := post(d.hc, d.r.URL+"/event/"+req.CallbackId, ev)
			took := time.Since(t0)
			if err != nil || code != 202 {
				errs.Add(1)
				return
			}
			mu.Lock()
			lat = append(lat, took)
			mu.Unlock()
		}()
	}
	sent.Wait()
	wg.Wait()
	out.Callbacks, out.CallbackP50, out.CallbackP99 = len(lat), percentile(lat, 50), percentile(lat, 99)
	out.Errors = errs.Load() + out.List.Errors + d.stub.errors.Load()
	return out, nil
}
