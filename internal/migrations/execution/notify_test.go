package execution_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/pkg/api"
)

// scriptedDeliverer answers each attempt with the next of its errors (nil once they run out).
type scriptedDeliverer struct {
	mu       sync.Mutex
	errs     []error
	attempts []migrations.DeliveryAttempt
}

func (d *scriptedDeliverer) Deliver(_ context.Context, _ migrations.DeliveryInput, a migrations.DeliveryAttempt) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts = append(d.attempts, a)
	if len(d.errs) == 0 {
		return nil
	}
	err := d.errs[0]
	d.errs = d.errs[1:]
	return err
}

func TestNotifyRetriesWithBackOff(t *testing.T) {
	transient := &migrations.DeliveryError{Err: errors.New("receiver answered 503")}
	permanent := &migrations.DeliveryError{Permanent: true, Err: errors.New("receiver answered 404")}
	retry := migrations.DeliveryRetry{First: time.Second, Max: 3 * time.Second, Attempts: 4}
	for _, c := range []struct {
		name string
		errs []error
		want []migrations.DeliveryAttempt
	}{
		{"delivered at once", nil, []migrations.DeliveryAttempt{{Number: 1, Of: 4, Next: time.Second}}},
		{"delivered on the third attempt", []error{transient, transient},
			[]migrations.DeliveryAttempt{{Number: 1, Of: 4, Next: time.Second}, {Number: 2, Of: 4, Next: 2 * time.Second}, {Number: 3, Of: 4, Next: 3 * time.Second}}},
		{"refused: not retried", []error{permanent, nil}, []migrations.DeliveryAttempt{{Number: 1, Of: 4, Next: time.Second}}},
		{"never delivered: gives up after the last attempt", []error{transient, transient, transient, transient, transient},
			[]migrations.DeliveryAttempt{{Number: 1, Of: 4, Next: time.Second}, {Number: 2, Of: 4, Next: 2 * time.Second},
				{Number: 3, Of: 4, Next: 3 * time.Second}, {Number: 4, Of: 4, Next: 3 * time.Second}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			d := &scriptedDeliverer{errs: c.errs}
			env.RegisterWorkflowWithOptions(execution.Notify, workflow.RegisterOptions{Name: execution.NotifyWorkflowName})
			env.RegisterActivity(execution.NewNotifyActivities(d))
			start := env.Now()
			env.ExecuteWorkflow(execution.NotifyWorkflowName, migrations.DeliveryInput{WebhookID: "wh-1",
				Notification: api.Notification{Id: "n-1", Kind: api.NotificationKindStepFailed}, Retry: retry})
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError(), "a delivery that gave up is in the log, not a failed workflow")
			require.Equal(t, c.want, d.attempts)
			var waited time.Duration
			for _, a := range c.want[:len(c.want)-1] {
				waited += a.Next
			}
			require.GreaterOrEqual(t, env.Now().Sub(start), waited, "each retry waited its back-off")
		})
	}
}
