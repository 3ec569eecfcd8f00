package execution

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
)

// NotifyWorkflowName is the registered name of the workflow that delivers one notification to
// one webhook.
const NotifyWorkflowName = "drover.Notify"

// errDeliveryOver is the error type of a delivery that no retry can help, or that has had its
// last attempt.
const errDeliveryOver = "DeliveryOver"

// Deliverer makes one attempt at a delivery and records it (migrations.Notifications).
type Deliverer interface {
	Deliver(ctx context.Context, in migrations.DeliveryInput, a migrations.DeliveryAttempt) error
}

// NotifyActivities deliver notifications.
type NotifyActivities struct{ d Deliverer }

// NewNotifyActivities returns the activities of Notify over d.
func NewNotifyActivities(d Deliverer) *NotifyActivities { return &NotifyActivities{d: d} }

// RegisterNotify registers the notification workflow and its activity on w.
func RegisterNotify(w worker.Registry, a *NotifyActivities) {
	w.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
	w.RegisterActivity(a)
}

// Notify delivers a notification, retried with back-off as in.Retry says; every attempt's
// outcome is in the webhook's delivery log, so a delivery that gave up ends the workflow
// without failing it.
func Notify(ctx workflow.Context, in migrations.DeliveryInput) error {
	in.Retry = in.Retry.OrDefault()
	var a *NotifyActivities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: in.Retry.First, BackoffCoefficient: 2, MaximumInterval: in.Retry.Max,
			MaximumAttempts: int32(in.Retry.Attempts), NonRetryableErrorTypes: []string{errDeliveryOver},
		},
	})
	if err := workflow.ExecuteActivity(actx, a.DeliverNotification, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("notification not delivered", "webhook", in.WebhookID, "notification", in.Notification.Id, "error", err)
	}
	return nil
}

// DeliverNotification makes the activity's attempt at a delivery.
func (a *NotifyActivities) DeliverNotification(ctx context.Context, in migrations.DeliveryInput) error {
	r := in.Retry.OrDefault()
	n := int(activity.GetInfo(ctx).Attempt)
	err := a.d.Deliver(ctx, in, migrations.DeliveryAttempt{Number: n, Of: r.Attempts, Next: r.Wait(n)})
	if err == nil {
		return nil
	}
	var de *migrations.DeliveryError
	if (errors.As(err, &de) && de.Permanent) || n >= r.Attempts {
		return temporal.NewNonRetryableApplicationError(err.Error(), errDeliveryOver, nil)
	}
	return temporal.NewApplicationError(err.Error(), "DeliveryFailed")
}
