package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/app"
)

const (
	baselineQueue    = "bench-baseline"
	baselineWorkflow = "bench.Baseline"
	baselineSignal   = "done"
)

// baselineRun is the raw pattern Drover builds on, with no Drover code: per step one activity,
// then wait for one signal (sent from outside, as a migrator's callback would be).
func baselineRun(ctx workflow.Context, steps int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	ch := workflow.GetSignalChannel(ctx, baselineSignal)
	for i := range steps {
		if err := workflow.ExecuteActivity(ctx, baselineActivityName, i).Get(ctx, nil); err != nil {
			return err
		}
		var got int
		ch.Receive(ctx, &got)
	}
	return nil
}

const baselineActivityName = "bench.Dispatch"

// baselineActivities stands in for a dispatch: it notes the time and has the "migrator" signal
// back at once from another goroutine.
type baselineActivities struct {
	client   client.Client
	timings  *timings
	errors   atomic.Int64
	inFlight sync.WaitGroup
}

func (b *baselineActivities) dispatch(ctx context.Context, step int) error {
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	b.timings.mark(id, step)
	b.inFlight.Add(1)
	go func() {
		defer b.inFlight.Done()
		if err := b.client.SignalWorkflow(context.Background(), id, "", baselineSignal, step); err != nil {
			b.errors.Add(1)
		}
	}()
	return nil
}

func (e *env) baseline(ctx context.Context) (*Throughput, error) {
	c, err := app.DialTemporal(ctx, e.temporal, "default", e.log)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	acts := &baselineActivities{client: c, timings: newTimings()}
	w := worker.New(c, baselineQueue, worker.Options{}) // the SDK's defaults, as Drover's worker uses
	w.RegisterWorkflowWithOptions(baselineRun, workflow.RegisterOptions{Name: baselineWorkflow})
	w.RegisterActivityWithOptions(acts.dispatch, activity.RegisterOptions{Name: baselineActivityName})
	if err := w.Start(); err != nil {
		return nil, err
	}
	defer w.Stop()

	n, steps := e.cfg.Candidates, e.cfg.Steps
	peak := watchRSS()
	start := time.Now()
	var failed atomic.Int64
	startAll(n, e.cfg.StartConcurrency, func(i int, release func()) {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("baseline-%d-%d", start.UnixNano(), i), TaskQueue: baselineQueue,
		}, baselineWorkflow, steps)
		release()
		if err == nil {
			err = run.Get(ctx, nil)
		}
		if err != nil {
			failed.Add(1)
		}
	})
	elapsed := time.Since(start)
	acts.inFlight.Wait()
	t := summarize(n, steps, elapsed, acts.timings)
	t.Errors = failed.Load() + acts.errors.Load()
	t.PeakRSSMB = peak()
	t.Events = historyEvents(ctx, c, fmt.Sprintf("baseline-%d-0", start.UnixNano()))
	return t, nil
}
