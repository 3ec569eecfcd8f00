// Package testsupport holds helpers for tests that exercise real components.
package testsupport

import (
	"bytes"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStartTimeout bounds how long Redis may take to answer PING after it is started.
const redisStartTimeout = 15 * time.Second

// Redis starts a dedicated redis-server without persistence on a free loopback port, waits
// until it answers PING and returns its address ("127.0.0.1:port"); the server is killed when
// the test ends.
func Redis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (%v); install it, e.g. with: apt-get install -y redis-server", err)
	}
	dir := t.TempDir()
	var lastErr error
	// Another process may take the port between choosing and binding it; try a few.
	for range 5 {
		addr, err := startRedis(t, bin, dir)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return ""
}

// RedisClient returns a client of a fresh Redis started by Redis; it is closed when the test ends.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: Redis(t)})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func startRedis(t testing.TB, bin, dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case err := <-exited:
			return "", &startError{err: err, output: out.String()}
		case <-time.After(20 * time.Millisecond):
		}
		if ping(addr) {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			err := <-exited
			return "", &startError{err: err, output: "no answer to PING within " + redisStartTimeout.String() + "\n" + out.String()}
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return addr, nil
}

type startError struct {
	err    error
	output string
}

func (e *startError) Error() string {
	return "redis-server exited (" + e.err.Error() + "): " + strings.TrimSpace(e.output)
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping reports whether a Redis server at addr answers PING.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	reply := make([]byte, len("+PONG\r\n"))
	if _, err := io.ReadFull(c, reply); err != nil {
		return false
	}
	return string(reply) == "+PONG\r\n"
}
