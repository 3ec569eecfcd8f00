// Command record records the history of a real run for the workflow replay tests: it serves a
// migrator that acknowledges every dispatch, announces a migration to a running Drover, starts
// one candidate, reports the first step merged and the second pending, and writes the run's
// history as JSON (the format Temporal's replayer reads). Run it against the Drover build whose
// histories are to be replayed:
//
//	drover dev --no-demo --data-dir "$(mktemp -d)" --temporal-port 7299 &
//	go run ./internal/migrations/execution/testdata/record -drover http://127.0.0.1:8080 \
//	  -temporal 127.0.0.1:7299 -shape v0 -out internal/migrations/execution/testdata/replay/NAME.json
//
// -shape picks the announcement's wire shapes: v0 for builds before the exact contract (overview
// objects, config values of any type), v1 for the contract's.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	drover := flag.String("drover", "http://127.0.0.1:8080", "Drover's base URL")
	temporal := flag.String("temporal", "127.0.0.1:7233", "Temporal frontend of that Drover")
	shape := flag.String("shape", "v1", "wire shapes of the announcement: v0 or v1")
	out := flag.String("out", "", "history file to write")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	dispatched := make(chan string, 16)
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				StepName string `json:"stepName"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			dispatched <- req.StepName
			w.WriteHeader(http.StatusAccepted)
		}))
	}()
	const mig = "replay"
	ann := map[string]any{
		"id": mig, "name": "Replay", "description": "Recorded for the replay tests.", "migratorUrl": "http://" + ln.Addr().String(),
		"candidates": []any{map[string]any{"id": "svc", "kind": "service", "metadata": map[string]any{"team": "t"}}},
	}
	switch *shape {
	case "v0":
		ann["overview"] = []any{map[string]any{"name": "Change", "steps": []any{"pr", "review"}}}
		ann["steps"] = []any{
			map[string]any{"name": "pr", "type": "pull-request", "config": map[string]any{"draft": true, "reviewers": []any{"a", "b"}}},
			map[string]any{"name": "review", "manual": true},
		}
	default:
		ann["overview"] = []any{"Change"}
		ann["steps"] = []any{
			map[string]any{"name": "pr", "migratorApp": "replay", "type": "pull-request", "config": map[string]any{"draft": "true"}},
			map[string]any{"name": "review", "migratorApp": "replay", "type": "manual-review"},
		}
	}
	post(ctx, *drover+"/registry/announce", ann)
	post(ctx, *drover+"/migrations/"+mig+"/candidates/svc/start", map[string]any{})
	wait(ctx, dispatched, "pr")
	post(ctx, *drover+"/event/"+mig+"__svc", map[string]any{"stepName": "pr", "candidateId": "svc", "status": "pending", "metadata": map[string]any{"prUrl": "https://git.example/pr/1"}})
	post(ctx, *drover+"/event/"+mig+"__svc", map[string]any{"stepName": "pr", "candidateId": "svc", "status": "merged"})
	wait(ctx, dispatched, "review")
	post(ctx, *drover+"/event/"+mig+"__svc", map[string]any{"stepName": "review", "candidateId": "svc", "status": "pending"})
	time.Sleep(2 * time.Second) // the workflow records the pending step

	c, err := client.DialContext(ctx, client.Options{HostPort: *temporal})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, mig+"__svc", "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			log.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, raw, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d events to %s\n", len(hist.Events), *out)
}

func post(ctx context.Context, url string, body any) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		log.Fatalf("POST %s: %d %v", url, resp.StatusCode, e)
	}
}

func wait(ctx context.Context, dispatched <-chan string, step string) {
	for {
		select {
		case s := <-dispatched:
			if s == step {
				return
			}
		case <-ctx.Done():
			log.Fatalf("no dispatch of %s", step)
		}
	}
}
