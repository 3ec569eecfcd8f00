package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

const rolloutMigration = "bench-rollout"

// RolloutResult is the rollout phase: the throughput phase's candidates started by one rollout
// with a concurrency limit instead of one start request each.
type RolloutResult struct {
	Runs          int           `json:"runs"`
	MaxConcurrent int           `json:"maxConcurrent"`
	Poll          time.Duration `json:"pollNs"`
	Seconds       float64       `json:"seconds"`
	RunsPerSec    float64       `json:"runsPerSec"`
	MostOpen      int           `json:"mostOpen"` // runs open at once at the migrator
	Errors        int64         `json:"errors"`
	Executions    int           `json:"executions"` // of the rollout workflow (continue-as-new)
	Events        int           `json:"historyEvents"`
}

func (e *env) rollout(ctx context.Context) (*RolloutResult, error) {
	d, err := e.startDrover(ctx, "rollout", rolloutMigration, func(c *app.Config) { c.RolloutPoll = e.cfg.RolloutPoll })
	if err != nil {
		return nil, err
	}
	defer d.close()
	n := e.cfg.Candidates
	start := time.Now()
	code, err := post(d.hc, d.r.URL+"/migrations/"+rolloutMigration+"/rollouts", api.RolloutRequest{MaxConcurrent: e.cfg.RolloutConcurrent})
	if err != nil || code != http.StatusCreated {
		return nil, fmt.Errorf("create the rollout: answered %d: %v", code, err)
	}
	done, err := d.waitCompleted(ctx, n)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	d.stub.pending.Wait()
	res := &RolloutResult{Runs: n, MaxConcurrent: e.cfg.RolloutConcurrent, Poll: e.cfg.RolloutPoll, Seconds: elapsed.Seconds(),
		RunsPerSec: float64(done) / elapsed.Seconds(), MostOpen: int(d.stub.most.Load()), Errors: d.stub.errors.Load() + int64(n-done)}
	rs, err := d.st.ListRollouts(ctx, rolloutMigration)
	if err == nil && len(rs) == 1 {
		res.Executions, res.Events = historyLength(ctx, d, migrations.RolloutWorkflowID(rolloutMigration, rs[0].Id))
	}
	return res, nil
}

// historyLength follows a workflow's continue-as-new chain from its first execution and counts
// its executions and their events.
func historyLength(ctx context.Context, d *benchDrover, workflowID string) (executions, events int) {
	desc, err := d.c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return 0, 0
	}
	for exec := desc.GetWorkflowExecutionInfo().GetFirstRunId(); exec != ""; {
		executions++
		it := d.c.GetWorkflowHistory(ctx, workflowID, exec, false, 0)
		exec = ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return executions, events
			}
			events++
			if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				exec = a.GetNewExecutionRunId()
			}
		}
	}
	return executions, events
}
