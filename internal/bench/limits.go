package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LimitResult is one large or hostile request sent to a fresh `drover dev` process, and what
// it cost that process: its resident memory before the request and at its peak during it.
type LimitResult struct {
	Case   string  `json:"case"`
	Bytes  int     `json:"bytes"`
	Status int     `json:"status"` // 0 when the server closed the connection before answering
	IdleMB float64 `json:"idleRssMb"`
	PeakMB float64 `json:"peakRssMb"`
}

// limitCase is a request of the limits phase; body builds its body.
type limitCase struct {
	name string
	path string
	body func() []byte
}

func limitCases() []limitCase {
	return []limitCase{
		{"announce, 50,000 candidates", "/registry/announce", func() []byte { return announceBody("limits-50k", 50_000, "") }},
		{"announce, 75,000 candidates (near the 16 MiB body limit)", "/registry/announce", func() []byte { return announceBody("limits-75k", 75_000, "") }},
		{"announce, 75,000 candidates, the last one invalid", "/registry/announce", func() []byte { return announceBody("limits-late", 75_000, "bad id") }},
		{"announce, 5,000,000 overview items", "/registry/announce", overviewFlood},
		{"announce, 100,000 candidates of about 520 bytes (over the body limit)", "/registry/announce", oversized},
		{"event with \"METADATA\": 101 keys of 8,000 characters", "/event/limits-50k__c000001", caseVariantEvent},
	}
}

// limits sends each limit case to its own fresh `drover dev` (so that no case inherits another's
// heap) and reads the process's memory around it.
func (e *env) limits(ctx context.Context) ([]LimitResult, error) {
	var out []LimitResult
	for _, lc := range limitCases() {
		res, err := e.limitCase(ctx, lc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lc.name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (e *env) limitCase(ctx context.Context, lc limitCase) (LimitResult, error) {
	dir, err := os.MkdirTemp(e.dir, "limits-")
	if err != nil {
		return LimitResult{}, err
	}
	cmd := exec.CommandContext(ctx, e.cfg.ServeBinary, "dev", "--no-demo", "--addr", "127.0.0.1:0", "--temporal-port", "0",
		"--data-dir", dir, "--log-format", "json")
	base, stop, err := startServing(cmd)
	if err != nil {
		return LimitResult{}, err
	}
	defer stop()
	pid := strconv.Itoa(cmd.Process.Pid)
	// A first announce loads what a serving process holds (the validator, connections).
	if _, err := send(ctx, base, "/registry/announce", announceBody("limits-50k", 1, "")); err != nil {
		return LimitResult{}, err
	}
	time.Sleep(2 * time.Second)
	body := lc.body()
	res := LimitResult{Case: lc.name, Bytes: len(body), IdleMB: rssMB(pid, "VmRSS")}
	// Writing 5 to clear_refs resets the peak (VmHWM) to the current resident size.
	if err := os.WriteFile(filepath.Join("/proc", pid, "clear_refs"), []byte("5"), 0); err != nil {
		return LimitResult{}, fmt.Errorf("reset peak memory: %w", err)
	}
	res.Status, _ = send(ctx, base, lc.path, body)
	time.Sleep(500 * time.Millisecond) // writes the request caused (a big merge) finish
	res.PeakMB = rssMB(pid, "VmHWM")
	return res, nil
}

// startServing starts cmd (a drover command logging JSON to stderr) and returns the URL it
// serves on, and a function that stops it.
func startServing(cmd *exec.Cmd) (string, func(), error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url := make(chan string, 1)
	var mu sync.Mutex
	var last []string // its latest log lines, to say why it did not serve
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "drover is serving" {
				url <- rec.URL
			}
			mu.Lock()
			last = append(last[max(len(last)-4, 0):], sc.Text())
			mu.Unlock()
		}
	}()
	why := func(what string) error {
		stop()
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%s %s; it logged: %s", cmd.Path, what, strings.Join(last, " | "))
	}
	select {
	case u := <-url:
		return u, stop, nil
	case <-ended:
		return "", nil, why("exited before serving")
	case <-time.After(60 * time.Second):
		return "", nil, why("did not start serving within 60 s")
	}
}

// send POSTs body and returns the status; a server that answers and closes before the body is
// sent whole may leave only an error.
func send(ctx context.Context, base, path string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// announceBody is an announcement of n realistic candidates (metadata and a file group each);
// badLast, when set, is the id of the last candidate.
func announceBody(id string, n int, badLast string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":%q,"name":"Limits","description":"Measures request limits.","overview":["Change"],`+
		`"steps":[{"name":"edit","migratorApp":"limits"}],"migratorUrl":"http://127.0.0.1:9","candidates":[`, id)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		cid := fmt.Sprintf("c%06d", i)
		if i == n-1 && badLast != "" {
			cid = badLast
		}
		fmt.Fprintf(&b, `{"id":%q,"kind":"service","metadata":{"team":"team-%d","tier":"%d"},`+
			`"files":[{"name":"prod","repo":"acme/%s","files":[{"path":"values.yaml","url":"https://git.example/acme/%s/values.yaml"}]}]}`,
			cid, i%40, i%3, cid, cid)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// oversized is an announcement of 100,000 candidates whose metadata makes it larger than the
// body limit.
func oversized() []byte {
	return bytes.Replace(announceBody("limits-oversized", 100_000, ""), []byte(`"tier":`), []byte(`"notes":"`+strings.Repeat("n", 300)+`","tier":`), -1)
}

// overviewFlood is the announcement of five million tiny overview items.
func overviewFlood() []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":"limits-flood","name":"Flood","description":"d","steps":[{"name":"edit","migratorApp":"limits"}],` +
		`"migratorUrl":"http://127.0.0.1:9","candidates":[],"overview":[`)
	for i := range 5_000_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"phase-item"`)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// caseVariantEvent carries 101 metadata keys of 8,000 characters under "METADATA", a key the
// schema does not list (so it is not `metadata`).
func caseVariantEvent() []byte {
	md := make(map[string]string, 101)
	for i := range 101 {
		md[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 8000)
	}
	raw, _ := json.Marshal(map[string]any{"stepName": "edit", "candidateId": "c000001", "status": "pending", "METADATA": md})
	return raw
}
