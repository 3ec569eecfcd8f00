// Package bench measures Drover against the raw-Temporal limit in one process: run throughput
// (with a baseline workflow doing the same activity + signal pairs on the same server), read
// latency at 10,000 candidates for each store, and the memory of `drover serve`.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/drover-dev/drover/internal/platform/temporal/devserver"
)

// Config selects what to measure and at which size.
type Config struct {
	Candidates       int           // runs started at once in the throughput phase
	Steps            int           // steps per run
	StartConcurrency int           // start requests in flight at once
	RedisAddr        string        // when set, the Redis store is measured too (and drover serve's memory)
	ReadCandidates   int           // candidates of the big migration in the read phase
	ReadRunning      int           // of those, how many have a run with step history
	ReadMigrations   int           // migrations in all in the read phase
	ReadBig          int           // of those, how many have ReadCandidates candidates (the first also has the runs)
	ReadClients      int           // concurrent clients per read endpoint
	ReadDuration     time.Duration // load time per read endpoint
	// RolloutConcurrent is the rollout phase's maxConcurrent and RolloutPoll its rollouts' poll
	// (zero: the workflow's default).
	RolloutConcurrent int
	RolloutPoll       time.Duration
	SkipThroughput    bool
	SkipBaseline      bool // measure Drover alone, e.g. to profile it
	SkipRollout       bool
	SkipReads         bool
	SkipLimits        bool
	SkipCallbacks     bool
	CallbackRate      int    // callbacks a second in the callbacks phase
	ServeBinary       string // the drover binary, for the memory and limits phases; empty skips them
	Logger            *slog.Logger
}

// Results is everything a bench run measured; it is also the --json output.
type Results struct {
	Machine    string           `json:"machine"`
	Throughput *Throughput      `json:"throughput,omitempty"`
	Baseline   *Throughput      `json:"baseline,omitempty"`
	Ratio      float64          `json:"ratio,omitempty"` // Drover steps/s ÷ baseline pairs/s
	Rollout    *RolloutResult   `json:"rollout,omitempty"`
	Reads      []ReadResult     `json:"reads,omitempty"`
	Memory     *MemoryResult    `json:"memory,omitempty"`
	Limits     []LimitResult    `json:"limits,omitempty"`
	Callbacks  *CallbackResult  `json:"callbacks,omitempty"`
	Notes      []string         `json:"notes,omitempty"`
	Config     map[string]any   `json:"config"`
	Errors     map[string]int64 `json:"errors"`
}

// Throughput is one throughput phase's outcome.
type Throughput struct {
	Runs        int           `json:"runs"`
	Steps       int           `json:"steps"`
	Seconds     float64       `json:"seconds"`
	StepsPerSec float64       `json:"stepsPerSec"`
	RunsPerSec  float64       `json:"runsPerSec"`
	StepP50     time.Duration `json:"stepP50Ns"` // a step's dispatch to the next step's dispatch
	StepP95     time.Duration `json:"stepP95Ns"`
	StepP99     time.Duration `json:"stepP99Ns"`
	Errors      int64         `json:"errors"`
	PeakRSSMB   float64       `json:"peakRssMb"`
	MostOpen    int           `json:"mostOpen"` // Drover runs open at once at the migrator
	// Events is the history of one run by event type: what each step costs Temporal.
	Events map[string]int `json:"historyEvents,omitempty"`
}

// ReadResult is one endpoint under read load.
type ReadResult struct {
	Store    string        `json:"store"`
	Endpoint string        `json:"endpoint"`
	Requests int           `json:"requests"`
	Errors   int64         `json:"errors"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50Ns"`
	P99      time.Duration `json:"p99Ns"`
	Bytes    int           `json:"bytesPerResponse"`
}

// MemoryResult is drover serve's resident memory holding the read data set.
type MemoryResult struct {
	StartMB   float64 `json:"startRssMb"`   // once serving, before any read
	ConsoleMB float64 `json:"consoleRssMb"` // the highest RSS under the console's reads alone (counts only, insights)
	IdleMB    float64 `json:"idleRssMb"`    // after one request of every endpoint, full lists included
	LoadMB    float64 `json:"loadRssMb"`    // the highest RSS seen under read load of every endpoint
}

// Run runs the selected phases and returns their results.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	res := &Results{Machine: machine(), Errors: map[string]int64{}, Config: map[string]any{
		"candidates": cfg.Candidates, "steps": cfg.Steps, "readCandidates": cfg.ReadCandidates,
		"readRunning": cfg.ReadRunning, "readMigrations": cfg.ReadMigrations, "readClients": cfg.ReadClients,
		"readDuration": cfg.ReadDuration.String(), "redis": cfg.RedisAddr != "", "rolloutMaxConcurrent": cfg.RolloutConcurrent,
		"rolloutPoll": cfg.RolloutPoll.String(),
	}}
	dir, err := os.MkdirTemp("", "drover-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ts, err := devserver.Start(devserver.Config{DatabasePath: filepath.Join(dir, "temporal.db"), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer func() { _ = ts.Stop() }()
	env := &env{cfg: cfg, dir: dir, temporal: ts.HostPort(), log: cfg.Logger}

	if !cfg.SkipThroughput {
		if !cfg.SkipBaseline {
			cfg.Logger.Info("baseline: raw Temporal workflows", "workflows", cfg.Candidates, "pairs", cfg.Candidates*cfg.Steps)
			if res.Baseline, err = env.baseline(ctx); err != nil {
				return nil, fmt.Errorf("baseline: %w", err)
			}
			res.Errors["baseline"] = res.Baseline.Errors
		}
		cfg.Logger.Info("throughput: Drover runs", "runs", cfg.Candidates, "steps", cfg.Candidates*cfg.Steps)
		if res.Throughput, err = env.throughput(ctx); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
		res.Errors["throughput"] = res.Throughput.Errors
		if res.Baseline != nil && res.Baseline.StepsPerSec > 0 {
			res.Ratio = res.Throughput.StepsPerSec / res.Baseline.StepsPerSec
		}
		if !cfg.SkipRollout {
			cfg.Logger.Info("rollout: the same runs through one rollout", "runs", cfg.Candidates, "maxConcurrent", cfg.RolloutConcurrent)
			if res.Rollout, err = env.rollout(ctx); err != nil {
				return nil, fmt.Errorf("rollout: %w", err)
			}
			res.Errors["rollout"] = res.Rollout.Errors
		}
	}
	if !cfg.SkipReads {
		stores := []string{"sqlite"}
		if cfg.RedisAddr != "" {
			stores = append(stores, "redis")
		} else {
			res.Notes = append(res.Notes, "reads: Redis store not measured (no --redis)")
		}
		for _, kind := range stores {
			cfg.Logger.Info("reads", "store", kind, "candidates", cfg.ReadCandidates, "migrations", cfg.ReadMigrations)
			rr, mem, err := env.reads(ctx, kind)
			if err != nil {
				return nil, fmt.Errorf("reads on %s: %w", kind, err)
			}
			for _, r := range rr {
				res.Errors["reads/"+kind+"/"+r.Endpoint] = r.Errors
			}
			res.Reads = append(res.Reads, rr...)
			if mem != nil {
				res.Memory = mem
			}
		}
		switch {
		case cfg.RedisAddr == "":
			res.Notes = append(res.Notes, "memory: drover serve not measured (it needs --redis)")
		case cfg.ServeBinary == "":
			res.Notes = append(res.Notes, "memory: drover serve not measured (no binary)")
		}
	}
	if !cfg.SkipCallbacks {
		cfg.Logger.Info("callbacks: list candidates while callbacks arrive", "running", cfg.Candidates, "callbacksPerSecond", cfg.CallbackRate)
		if res.Callbacks, err = env.callbacks(ctx); err != nil {
			return nil, fmt.Errorf("callbacks: %w", err)
		}
		res.Errors["callbacks"] = res.Callbacks.Errors
	}
	if !cfg.SkipLimits && cfg.ServeBinary != "" {
		cfg.Logger.Info("request limits: large and hostile requests, each to a fresh drover dev")
		if res.Limits, err = env.limits(ctx); err != nil {
			return nil, fmt.Errorf("request limits: %w", err)
		}
	}
	return res, nil
}

type env struct {
	cfg      Config
	dir      string
	temporal string
	log      *slog.Logger
}

// Print writes the results as tables.
func (r *Results) Print(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if r.Throughput != nil {
		fmt.Fprintln(tw, "run throughput\truns\tsteps\tseconds\tsteps/s\truns/s\tstep p50\tstep p95\tstep p99\terrors\tpeak RSS\t")
		for _, row := range []struct {
			name string
			t    *Throughput
		}{{"raw Temporal (activity + signal)", r.Baseline}, {"Drover", r.Throughput}} {
			if row.t == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\t%s\t%s\t%d\t%.0f MB\t\n", row.name, row.t.Runs, row.t.Steps, row.t.Seconds,
				row.t.StepsPerSec, row.t.RunsPerSec, ms(row.t.StepP50), ms(row.t.StepP95), ms(row.t.StepP99), row.t.Errors, row.t.PeakRSSMB)
		}
		_ = tw.Flush()
		if r.Baseline != nil {
			fmt.Fprintf(w, "\nDrover / raw Temporal: %.2f\n", r.Ratio)
		}
		fmt.Fprintln(w)
	}
	if ro, t := r.Rollout, r.Throughput; ro != nil && t != nil {
		fmt.Fprintln(tw, "starting the runs\truns\tseconds\truns/s\tmost open at once\terrors\t")
		fmt.Fprintf(tw, "one start request each\t%d\t%.1f\t%.1f\t%d\t%d\t\n", t.Runs, t.Seconds, t.RunsPerSec, t.MostOpen, t.Errors)
		poll := "default poll"
		if ro.Poll > 0 {
			poll = "poll " + ro.Poll.String()
		}
		fmt.Fprintf(tw, "one rollout, maxConcurrent %d, %s\t%d\t%.1f\t%.1f\t%d\t%d\t\n", ro.MaxConcurrent, poll, ro.Runs, ro.Seconds, ro.RunsPerSec, ro.MostOpen, ro.Errors)
		_ = tw.Flush()
		fmt.Fprintf(w, "\nrollout / direct starts: %.2f; the rollout's history: %d events in %d executions\n\n", ro.RunsPerSec/t.RunsPerSec, ro.Events, ro.Executions)
	}
	if len(r.Reads) > 0 {
		fmt.Fprintln(tw, "reads\tstore\trequests\trequests/s\tp50\tp99\tbytes\terrors\t")
		for _, rr := range r.Reads {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t\n", rr.Endpoint, rr.Store, rr.Requests, rr.RPS, ms(rr.P50), ms(rr.P99), rr.Bytes, rr.Errors)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	if cb := r.Callbacks; cb != nil {
		fmt.Fprintln(tw, "while callbacks arrive\trunning\tcallbacks/s asked\tcallbacks\tcallback p50\tcallback p99\tlist requests/s\tlist p50\tlist p99\terrors\t")
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%s\t%s\t%.0f\t%s\t%s\t%d\t\n", cb.List.Endpoint, cb.Running, cb.Rate, cb.Callbacks, ms(cb.CallbackP50), ms(cb.CallbackP99),
			cb.List.RPS, ms(cb.List.P50), ms(cb.List.P99), cb.Errors)
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	if r.Memory != nil {
		fmt.Fprintf(w, "drover serve RSS with the read data set: started %.0f MB, under the console's reads (counts only, insights) %.0f MB; after every endpoint once %.0f MB, under read load of every endpoint %.0f MB\n\n",
			r.Memory.StartMB, r.Memory.ConsoleMB, r.Memory.IdleMB, r.Memory.LoadMB)
	}
	if len(r.Limits) > 0 {
		fmt.Fprintln(tw, "request (to a fresh drover dev)\tbytes\tstatus\tRSS before\tpeak RSS\tpeak - before\t(peak - before) / bytes\t")
		for _, l := range r.Limits {
			grew := l.PeakMB - l.IdleMB
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f MB\t%.0f MB\t%.0f MB\t%.1f\t\n", l.Case, l.Bytes, l.Status, l.IdleMB, l.PeakMB, grew, grew*(1<<20)/float64(l.Bytes))
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	for _, row := range []struct {
		name string
		t    *Throughput
	}{{"raw Temporal", r.Baseline}, {"Drover", r.Throughput}} {
		if row.t == nil || len(row.t.Events) == 0 {
			continue
		}
		total := 0
		for _, n := range row.t.Events {
			total += n
		}
		fmt.Fprintf(w, "history of one %s run: %d events %v\n", row.name, total, row.t.Events)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// JSON writes the results as indented JSON.
func (r *Results) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// percentile returns the p-th percentile (0..100) of ds, sorting ds in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// rssMB reads a process's resident set (field VmRSS, or VmHWM for the peak) from /proc.
func rssMB(pid, field string) float64 {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func machine() string {
	return fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// historyEvents counts one workflow's history events by type.
func historyEvents(ctx context.Context, c client.Client, workflowID string) map[string]int {
	out := map[string]int{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return out
		}
		out[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
	}
	return out
}
