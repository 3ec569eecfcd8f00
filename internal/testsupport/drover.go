package testsupport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries caches one build of cmd/drover per test process.
var binaries struct {
	once sync.Once
	path string
	err  error
}

// DroverBinary builds cmd/drover once per test process and returns its path.
func DroverBinary(t testing.TB) string {
	t.Helper()
	binaries.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binaries.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "drover-bin-")
		if err != nil {
			binaries.err = err
			return
		}
		binaries.path = filepath.Join(dir, "drover")
		cmd := exec.Command("go", "build", "-o", binaries.path, "./cmd/drover")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build ./cmd/drover: %w\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.path
}

// DevProcess is a `drover dev` or `drover serve` process started by a test.
type DevProcess struct {
	// URL is Drover's API; TemporalHostPort its embedded Temporal frontend.
	URL              string
	TemporalHostPort string

	cmd    *exec.Cmd
	exited chan struct{}
	logs   *lockedBuffer
}

// StartDev runs `drover dev` on dataDir with free ports (plus args) and waits until it serves.
// The process is killed when the test ends, if it still runs.
func StartDev(t testing.TB, dataDir string, args ...string) *DevProcess {
	t.Helper()
	return StartDrover(t, append([]string{"dev", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--temporal-port", "0", "--no-demo"}, args...)...)
}

// StartDrover runs the drover binary with args (a command and its flags; logs are switched to
// JSON) and waits until it serves. The process is killed when the test ends, if it still runs.
func StartDrover(t testing.TB, args ...string) *DevProcess {
	t.Helper()
	bin := DroverBinary(t)
	cmd := exec.Command(bin, append(args, "--log-format", "json")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &DevProcess{cmd: cmd, exited: make(chan struct{}), logs: &lockedBuffer{}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start drover %s: %v", args[0], err)
	}
	t.Cleanup(p.Kill)
	ready := make(chan struct{})
	go p.readLogs(stderr, ready)
	go func() { _ = cmd.Wait(); close(p.exited) }()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("drover %s exited before serving:\n%s", args[0], p.logs.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("drover %s did not serve within 90s:\n%s", args[0], p.logs.String())
	}
	return p
}

func (p *DevProcess) readLogs(r io.Reader, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	signalled := false
	for sc.Scan() {
		line := sc.Bytes()
		p.logs.Write(append(append([]byte{}, line...), '\n'))
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if hp, ok := rec["hostPort"].(string); ok && rec["msg"] == "embedded Temporal is up" {
			p.TemporalHostPort = hp
		}
		if u, ok := rec["url"].(string); ok && rec["msg"] == "drover is serving" && !signalled {
			p.URL = u
			signalled = true
			close(ready)
		}
	}
}

// Logs returns what the process wrote to stderr so far.
func (p *DevProcess) Logs() string { return p.logs.String() }

// Kill ends the process at once (SIGKILL), as a crash would, and waits for it.
func (p *DevProcess) Kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Terminate sends SIGTERM and waits up to timeout for a graceful exit; it reports whether the
// process exited in time.
func (p *DevProcess) Terminate(timeout time.Duration) bool {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// ExitCode is the process's exit code once it has exited.
func (p *DevProcess) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
