// Package temporal adapts the Temporal client to the service's ExecutionEngine port.
package temporal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/drover-dev/drover/internal/migrations"
)

// DefaultCancelWait bounds how long CancelRun waits for a run to finish its clean-up.
const DefaultCancelWait = 15 * time.Second

// Engine starts, cancels and signals run workflows. The workflow id is the run id, which is
// what guards against two runs of one candidate.
type Engine struct {
	client client.Client
	cfg    EngineConfig
}

// EngineConfig says where runs go and what every run starts with.
type EngineConfig struct {
	Namespace string // of the client (cancel requests name it); empty is "default"
	TaskQueue string
	Workflow  string // the run workflow's registered name
	// CancelWait bounds how long CancelRun waits for a run's clean-up (<= 0: DefaultCancelWait).
	CancelWait time.Duration
	// CallbackTimeout, DispatchRetryFor and ContinueAfter go into every run's input (zero: the
	// workflow's defaults).
	CallbackTimeout  time.Duration
	DispatchRetryFor time.Duration
	ContinueAfter    int
	// RolloutWorkflow is the rollout workflow's registered name; RolloutPoll, when set, is how
	// often rollouts look at their runs (zero: the workflow's default).
	RolloutWorkflow string
	RolloutPoll     time.Duration
	// NotifyWorkflow is the notification workflow's registered name; NotifyRetry how its
	// deliveries are retried (zero: the defaults).
	NotifyWorkflow string
	NotifyRetry    migrations.DeliveryRetry
}

// NewEngine returns an Engine that starts cfg.Workflow on cfg.TaskQueue.
func NewEngine(c client.Client, cfg EngineConfig) *Engine {
	if cfg.CancelWait <= 0 {
		cfg.CancelWait = DefaultCancelWait
	}
	cfg.Namespace = cmp.Or(cfg.Namespace, "default")
	return &Engine{client: c, cfg: cfg}
}

// StartRun starts the run workflow. A cancelled or failed earlier run of the candidate may be
// replaced; an open or completed one may not.
func (e *Engine) StartRun(ctx context.Context, in migrations.RunInput) error {
	runID := migrations.RunID(in.MigrationID, in.CandidateID)
	in.CallbackTimeout, in.DispatchRetryFor, in.ContinueAfter = e.cfg.CallbackTimeout, e.cfg.DispatchRetryFor, e.cfg.ContinueAfter
	_, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       runID,
		TaskQueue:                                e.cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, e.cfg.Workflow, in)
	if err == nil {
		return nil
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &started) {
		return classify(fmt.Errorf("start workflow %s: %w", runID, err))
	}
	desc, derr := e.client.DescribeWorkflowExecution(ctx, runID, "")
	if derr == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return migrations.Conflict(migrations.ErrCandidateCompleted, "candidate %s of migration %s has already completed", in.CandidateID, in.MigrationID)
	}
	return migrations.Conflict(migrations.ErrCandidateRunning, "candidate %s of migration %s is already running", in.CandidateID, in.MigrationID)
}

// CancelRun requests cancellation of the open run and waits up to the cancel wait for it to close.
func (e *Engine) CancelRun(ctx context.Context, runID string) (migrations.RunStatus, error) {
	desc, err := e.client.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return "", classify(fmt.Errorf("describe %s: %w", runID, err))
	}
	info := desc.GetWorkflowExecutionInfo()
	if closed := closedError(runID, info); closed != nil {
		return "", closed
	}
	current := info.GetExecution().GetRunId()
	// Cancel whichever execution of this run is current: naming the execution described would
	// be a no-op once the run has continued as new meanwhile (Temporal accepts a cancel of a
	// closed execution), and a new run of the candidate (another first execution) is refused.
	_, err = e.client.WorkflowService().RequestCancelWorkflowExecution(ctx, &workflowservice.RequestCancelWorkflowExecutionRequest{
		Namespace:           e.cfg.Namespace,
		WorkflowExecution:   &commonpb.WorkflowExecution{WorkflowId: runID},
		FirstExecutionRunId: cmp.Or(info.GetFirstRunId(), current),
		Identity:            "drover",
		Reason:              "cancelled by an operator",
	})
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			// The run ended between the describe and the cancel: say how, rather than "no run".
			if closed := e.closed(ctx, runID); closed != nil {
				return "", closed
			}
		}
		return "", classify(fmt.Errorf("cancel %s: %w", runID, err))
	}
	wctx, cancel := context.WithTimeout(ctx, e.cfg.CancelWait)
	defer cancel()
	err = e.client.GetWorkflow(wctx, runID, current).Get(wctx, nil) // follows continuations
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
		return migrations.RunCompleted, nil
	case errors.As(err, &canceled):
		return migrations.RunCancelled, nil
	case wctx.Err() != nil:
		return migrations.RunRunning, nil
	default:
		return migrations.RunFailed, nil
	}
}

// closed describes the run again and returns how it ended, or nil when it is still open or
// cannot be described.
func (e *Engine) closed(ctx context.Context, runID string) *migrations.RunClosedError {
	desc, err := e.client.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		return nil
	}
	return closedError(runID, desc.GetWorkflowExecutionInfo())
}

// closedError says how a described run ended, or nil while it runs. The read model knows a run
// by its first execution, which continuing as new keeps.
func closedError(runID string, info *workflowpb.WorkflowExecutionInfo) *migrations.RunClosedError {
	execID := cmp.Or(info.GetFirstRunId(), info.GetExecution().GetRunId())
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return &migrations.RunClosedError{RunID: runID, ExecutionID: execID, Status: migrations.RunCompleted}
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return &migrations.RunClosedError{RunID: runID, ExecutionID: execID, Status: migrations.RunCancelled}
	default: // failed, terminated, timed out
		return &migrations.RunClosedError{RunID: runID, ExecutionID: execID, Status: migrations.RunFailed}
	}
}

// Signal delivers a signal to the open run.
func (e *Engine) Signal(ctx context.Context, runID, name string, payload any) error {
	if err := e.client.SignalWorkflow(ctx, runID, "", name, payload); err != nil {
		return classify(fmt.Errorf("signal %s to %s: %w", name, runID, err))
	}
	return nil
}

// StartRollout starts the rollout's workflow; its id is taken once, ever.
func (e *Engine) StartRollout(ctx context.Context, in migrations.RolloutInput) error {
	id := migrations.RolloutWorkflowID(in.MigrationID, in.RolloutID)
	in.Poll, in.ContinueAfter = cmp.Or(in.Poll, e.cfg.RolloutPoll), cmp.Or(in.ContinueAfter, e.cfg.ContinueAfter)
	_, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                e.cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, e.cfg.RolloutWorkflow, in)
	if err != nil {
		return classify(fmt.Errorf("start rollout workflow %s: %w", id, err))
	}
	return nil
}

// EnqueueDelivery starts the workflow that delivers in, once per webhook and notification: a
// notification raised again (a retried write) finds its workflow started and is not sent twice.
func (e *Engine) EnqueueDelivery(ctx context.Context, in migrations.DeliveryInput) error {
	id := "drover-notify/" + in.WebhookID + "/" + in.Notification.Id
	if in.Retry == (migrations.DeliveryRetry{}) {
		in.Retry = e.cfg.NotifyRetry
	}
	_, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                e.cfg.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, e.cfg.NotifyWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return classify(fmt.Errorf("start notification workflow %s: %w", id, err))
	}
	return nil
}

// SignalRollout delivers an operator's command to the open rollout.
func (e *Engine) SignalRollout(ctx context.Context, migrationID, rolloutID string, cmd migrations.RolloutControl) error {
	id := migrations.RolloutWorkflowID(migrationID, rolloutID)
	err := e.client.SignalWorkflow(ctx, id, "", migrations.SignalRolloutControl, cmd)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("signal rollout %s: %w: %w", id, migrations.ErrRolloutNotFound, err)
	}
	if err != nil {
		return classify(fmt.Errorf("signal rollout %s: %w", id, err))
	}
	return nil
}

// Ping checks that the Temporal frontend answers.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal health check: %w", err)
	}
	return nil
}

// classify maps Temporal's "not found" to ErrRunNotFound and outages to ErrUnavailable.
func classify(err error) error {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w: %w", migrations.ErrRunNotFound, err)
	}
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	if errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: temporal: %w", migrations.ErrUnavailable, err)
	}
	return err
}
