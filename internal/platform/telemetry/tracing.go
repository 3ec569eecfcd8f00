package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// Tracing is where Drover's spans go: a span per API request, per workflow activity and per
// call to a migrator, with the W3C trace context carried from the request through the run's
// workflow (in Temporal headers) to the migrator (traceparent on dispatches).
type Tracing struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error
}

// NewTracing returns tracing to the span processor sp, or off when sp is nil.
func NewTracing(sp sdktrace.SpanProcessor, service string) *Tracing {
	t := &Tracing{prop: propagation.TraceContext{}, shutdown: func(context.Context) error { return nil }}
	if sp == nil {
		t.provider = noop.NewTracerProvider()
	} else {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
		t.provider, t.shutdown = tp, tp.Shutdown
	}
	t.tracer = t.provider.Tracer("github.com/drover-dev/drover")
	return t
}

// TracingFromEnv exports spans over OTLP/gRPC as the standard OTEL_* variables say
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, …);
// with neither endpoint set, or OTEL_TRACES_EXPORTER=none, tracing is off.
func TracingFromEnv(ctx context.Context) (*Tracing, error) {
	if os.Getenv("OTEL_TRACES_EXPORTER") == "none" ||
		(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return NewTracing(nil, ""), nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	service := os.Getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "drover"
	}
	return NewTracing(sdktrace.NewBatchSpanProcessor(exp), service), nil
}

// Shutdown flushes the spans not yet exported.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Middleware is a span per API request, named by its route, continuing an incoming traceparent.
func (t *Tracing) Middleware(c *gin.Context) {
	ctx := t.prop.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	ctx, span := t.tracer.Start(ctx, c.Request.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", c.Request.Method), attribute.String("http.route", route)))
	defer span.End()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	status := c.Writer.Status()
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	if id := c.Param("migrationId"); id != "" {
		span.SetAttributes(attribute.String("drover.migration", id))
	}
}

// Transport wraps base so that each call to a migrator is a client span whose trace context
// goes with the request (traceparent).
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " migrator " + r.URL.Path }))
}

// Propagator carries the trace context through Temporal: from the request that starts a run
// into its workflow's headers, and from the workflow into each activity's.
func (t *Tracing) Propagator() workflow.ContextPropagator { return propagator{t: t} }

// WorkerInterceptor makes each activity (local ones too) a span, a child of the trace the run
// was started in.
func (t *Tracing) WorkerInterceptor() interceptor.WorkerInterceptor { return &workerInterceptor{t: t} }

const traceHeader = "drover-trace"

type propagator struct{ t *Tracing }

type traceKey struct{}

func (p propagator) write(carrier propagation.MapCarrier, w workflow.HeaderWriter) error {
	if len(carrier) == 0 {
		return nil
	}
	payload, err := converter.GetDefaultDataConverter().ToPayload(map[string]string(carrier))
	if err != nil {
		return err
	}
	w.Set(traceHeader, payload)
	return nil
}

func read(r workflow.HeaderReader) (propagation.MapCarrier, bool) {
	raw, ok := r.Get(traceHeader)
	if !ok {
		return nil, false
	}
	carrier := propagation.MapCarrier{}
	if err := converter.GetDefaultDataConverter().FromPayload(raw, &carrier); err != nil {
		return nil, false // a header Drover did not write: no trace, never a failed task
	}
	return carrier, true
}

func (p propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	carrier := propagation.MapCarrier{}
	p.t.prop.Inject(ctx, carrier)
	return p.write(carrier, w)
}

func (p propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	if carrier, ok := read(r); ok {
		ctx = p.t.prop.Extract(ctx, carrier)
	}
	return ctx, nil
}

func (p propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	carrier, _ := ctx.Value(traceKey{}).(propagation.MapCarrier)
	return p.write(carrier, w)
}

func (p propagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	if carrier, ok := read(r); ok {
		ctx = workflow.WithValue(ctx, traceKey{}, carrier)
	}
	return ctx, nil
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	t *Tracing
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &activityInterceptor{t: w.t}
	a.Next = next
	return a
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	t *Tracing
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	ctx, span := a.t.tracer.Start(ctx, "activity "+info.ActivityType.Name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("temporal.workflow_id", info.WorkflowExecution.ID),
			attribute.String("temporal.activity_type", info.ActivityType.Name), attribute.Int("temporal.attempt", int(info.Attempt)),
			attribute.Bool("temporal.local", info.IsLocalActivity)))
	defer span.End()
	out, err := a.Next.ExecuteActivity(ctx, in)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return out, err
}
