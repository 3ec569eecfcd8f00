// Package gobump is an example migrator doing real work with no network: it manages a
// directory of local git repositories and moves every Go module whose go.mod names an older Go
// version to a target version. Steps: "branch" (a branch with the edit, committed), "pull-request"
// (pending until that branch is merged into main: merge it yourself with git), "review" (pending
// with instructions until an operator marks it done) and "cleanup" (the branch is deleted).
// When an operator cancels a run, the run's branch is deleted and its "pull request" (the merge
// the watcher waits for) is closed.
package gobump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// Branch is the branch each run's change is committed on.
const Branch = "drover/bump-go"

// pendingKey is the git config key, in each repository, that remembers the run waiting for the
// branch to merge: the mapping survives a restart of the migrator.
const pendingKey = "drover.pendingrun"

// Options configure the migrator.
type Options struct {
	Workspace string // directory whose sub-directories are git repositories
	Target    string // Go version to move to, e.g. "1.26"
	Drover    string // Drover's base URL
	URL       string // this migrator's base URL as Drover reaches it
	// Secret is the migrator's whsec_ credential (migrator.Config.Secret): its requests are
	// signed and Drover's dispatches verified. Empty: unsigned, for a Drover allowing that.
	Secret    string
	PollEvery time.Duration
	Logger    *slog.Logger
}

// Bumper is the migrator plus its watcher of merged branches.
type Bumper struct {
	opts Options
	m    *migrator.Migrator
	log  *slog.Logger
}

// MigrationID is the id the migration is announced under.
const MigrationID = "bump-go-version"

// New builds the migrator.
func New(o Options) (*Bumper, error) {
	if o.Target == "" {
		o.Target = "1.26"
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Bumper{opts: o, log: o.Logger.With("migrator", MigrationID)}
	m, err := migrator.New(migrator.Config{
		Drover: o.Drover, URL: o.URL, Secret: o.Secret,
		Definition: migrator.Definition{
			ID:          MigrationID,
			Name:        "Move Go modules to Go " + o.Target,
			Description: fmt.Sprintf("Every repository under %s whose go.mod names a Go version older than %s gets a branch that moves it to %s.", o.Workspace, o.Target, o.Target),
			App:         "gobump",
			Overview:    []string{"Change", "Finish"},
			Phases: []wire.OverviewPhase{
				{Name: "Change", Description: "Commit the edit on a branch and merge it.", Steps: []string{"branch", "pull-request"}},
				{Name: "Finish", Description: "A person checks the result; the branch is removed.", Steps: []string{"review", "cleanup"}},
			},
			RequiredInputs: []wire.RequiredInput{{Name: "reviewer", Label: "Reviewer", Description: "Who checks the build after the merge."}},
			Steps: []wire.StepDefinition{
				{Name: "branch", Description: "Create " + Branch + " with go.mod moved to Go " + o.Target + "."},
				{Name: "pull-request", Description: "Wait until " + Branch + " is merged into main."},
				{Name: "review", Description: "A person checks the build, then marks the step done.", Type: "manual-review"},
				{Name: "cleanup", Description: "Delete " + Branch + "."},
			},
		},
		Discover:      b.discover,
		DiscoverEvery: 10 * time.Second,
		Steps: map[string]migrator.StepFunc{
			"branch": b.branch, "pull-request": b.pullRequest, "manual-review": b.review, "cleanup": b.cleanup,
			// Runs started before the review step had its type dispatch it by name.
			"review": b.review,
		},
		DryRun:      b.dryRun,
		OnCancel:    b.cancel,
		Concurrency: 4,
		Logger:      o.Logger,
	})
	if err != nil {
		return nil, err
	}
	b.m = m
	return b, nil
}

// Migrator is the SDK migrator, to mount its Handler.
func (b *Bumper) Migrator() *migrator.Migrator { return b.m }

// Start announces the migration and watches for merged branches until ctx ends.
func (b *Bumper) Start(ctx context.Context) error {
	if err := b.m.Start(ctx); err != nil {
		return err
	}
	go b.watch(ctx)
	return nil
}

var goDirective = regexp.MustCompile(`(?m)^go[ \t]+(\d+(?:\.\d+){1,2})[ \t]*$`)

// discover lists the repositories whose go.mod on main names an older Go version.
func (b *Bumper) discover(ctx context.Context) ([]wire.CandidateInput, error) {
	entries, err := os.ReadDir(b.opts.Workspace)
	if err != nil {
		return nil, err
	}
	out := []wire.CandidateInput{}
	for _, e := range entries {
		dir := filepath.Join(b.opts.Workspace, e.Name())
		if !e.IsDir() || !isRepo(dir) {
			continue
		}
		if !validID.MatchString(e.Name()) || len(e.Name()) > 128 {
			b.log.Warn("skipping a repository whose name cannot be a candidate id", "dir", dir)
			continue
		}
		gomod, err := git(ctx, dir, "show", "main:go.mod")
		if err != nil {
			continue
		}
		m := goDirective.FindStringSubmatch(gomod)
		if m == nil || !older(m[1], b.opts.Target) {
			continue
		}
		out = append(out, wire.CandidateInput{Id: e.Name(), Kind: "go-module", Metadata: map[string]string{
			"path": dir, "goVersion": m[1], "module": modulePath(gomod),
		}, Files: []wire.FileGroup{{Name: "base", Repo: e.Name(), Files: []wire.FileRef{
			{Path: "go.mod", Url: (&url.URL{Scheme: "file", Path: filepath.Join(dir, "go.mod")}).String()},
		}}}})
	}
	return out, nil
}

// dir is the candidate's repository: always the workspace entry named by its id, never a path
// taken from the request, so a forged candidate cannot point the migrator elsewhere.
func (b *Bumper) dir(c wire.Candidate) (string, error) {
	if !validID.MatchString(c.Id) || !filepath.IsLocal(c.Id) {
		return "", fmt.Errorf("candidate id %q does not name a repository of the workspace", c.Id)
	}
	dir := filepath.Join(b.opts.Workspace, c.Id)
	if !isRepo(dir) {
		return "", fmt.Errorf("candidate %s has no repository at %s", c.Id, dir)
	}
	return dir, nil
}

// validID is Drover's candidate id alphabet; directories named otherwise are not candidates.
var validID = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]|_[A-Za-z0-9.-])*$`)

// branch commits the edited go.mod on Branch, leaving main checked out.
func (b *Bumper) branch(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
	dir, err := b.dir(req.Candidate)
	if err != nil {
		return migrator.Result{}, err
	}
	gomod, err := git(ctx, dir, "show", "main:go.mod")
	if err != nil {
		return migrator.Result{}, err
	}
	after := bump(gomod, b.opts.Target)
	if _, err := git(ctx, dir, "checkout", "-B", Branch, "main"); err != nil {
		return migrator.Result{}, err
	}
	defer func() { _, _ = git(context.Background(), dir, "checkout", "main") }()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(after), 0o644); err != nil {
		return migrator.Result{}, err
	}
	msg := fmt.Sprintf("Move to Go %s\n\nReviewer: %s\nDrover run: %s", b.opts.Target, req.Candidate.Metadata["reviewer"], req.RunID)
	if _, err := git(ctx, dir, "add", "go.mod"); err != nil {
		return migrator.Result{}, err
	}
	if _, err := git(ctx, dir, "commit", "-m", msg, "--", "go.mod"); err != nil {
		return migrator.Result{}, err
	}
	sha, err := git(ctx, dir, "rev-parse", "--short", "HEAD")
	if err != nil {
		return migrator.Result{}, err
	}
	return migrator.Succeeded(map[string]string{"branch": Branch, "commit": strings.TrimSpace(sha)}), nil
}

// pullRequest waits for Branch to be merged into main; the watcher completes it.
func (b *Bumper) pullRequest(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
	dir, err := b.dir(req.Candidate)
	if err != nil {
		return migrator.Result{}, err
	}
	if _, err := git(ctx, dir, "config", pendingKey, req.RunID); err != nil {
		return migrator.Result{}, err
	}
	return migrator.Pending(map[string]string{
		"branch":       Branch,
		"instructions": fmt.Sprintf("Merge it: git -C %s merge %s", dir, Branch),
	}), nil
}

// review waits for a person.
func (b *Bumper) review(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
	return migrator.Pending(map[string]string{
		"instructions": fmt.Sprintf("%s: build %s on main and mark this step done (or failed) in Drover.", req.Candidate.Metadata["reviewer"], req.Candidate.Id),
	}), nil
}

// cleanup deletes Branch.
func (b *Bumper) cleanup(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
	dir, err := b.dir(req.Candidate)
	if err != nil {
		return migrator.Result{}, err
	}
	if _, err := git(ctx, dir, "branch", "-D", Branch); err != nil && !strings.Contains(err.Error(), "not found") {
		return migrator.Result{}, err
	}
	return migrator.Succeeded(nil), nil
}

// cancel undoes a cancelled run: it closes the run's pull request (the watcher stops waiting for
// the merge) and deletes Branch. A branch already gone is not an error, so that Drover can send
// the notice again; a change already merged stays on main, where undoing it is a person's call.
func (b *Bumper) cancel(ctx context.Context, req migrator.CancelRequest) error {
	dir, err := b.dir(req.Candidate)
	if err != nil {
		if !validID.MatchString(req.Candidate.Id) || !filepath.IsLocal(req.Candidate.Id) {
			return err
		}
		b.log.Info("cancelled run's repository is gone; nothing to undo", "run", req.RunID, "error", err)
		return nil
	}
	tip, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+Branch)
	tip = strings.TrimSpace(tip)
	if err != nil && tip != "" {
		return err
	}
	// Every run of a candidate has the same run id and branch name: when the run committed and
	// the branch now holds another commit, a later run made it anew and it is not this run's.
	if commit := committed(req.Steps); tip != "" && commit != "" && !strings.HasPrefix(tip, commit) {
		b.log.Info("leaving the branch of a later run", "run", req.RunID, "repo", dir, "runCommit", commit, "branch", tip)
		return nil
	}
	if run, _ := git(ctx, dir, "config", "--get", pendingKey); strings.TrimSpace(run) == req.RunID {
		if _, err := git(ctx, dir, "config", "--unset", pendingKey); err != nil {
			return err
		}
	}
	if tip != "" {
		if _, err := git(ctx, dir, "branch", "-D", Branch); err != nil {
			return err
		}
	}
	b.log.Info("cancelled run undone", "run", req.RunID, "repo", dir, "branchDeleted", tip != "")
	return nil
}

// committed is the commit a run's branch step reported, or "" when it reported none.
func committed(steps []wire.CancelledStep) string {
	for _, s := range steps {
		if s.StepName == "branch" && len(s.Metadata["commit"]) >= 4 {
			return s.Metadata["commit"]
		}
	}
	return ""
}

// watch completes pull-request steps whose branch has been merged into main.
func (b *Bumper) watch(ctx context.Context) {
	t := time.NewTicker(b.opts.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		entries, err := os.ReadDir(b.opts.Workspace)
		if err != nil {
			b.log.Warn("read workspace", "error", err)
			continue
		}
		for _, e := range entries {
			dir := filepath.Join(b.opts.Workspace, e.Name())
			run, err := git(ctx, dir, "config", "--get", pendingKey)
			if err != nil || strings.TrimSpace(run) == "" {
				continue
			}
			if _, err := git(ctx, dir, "merge-base", "--is-ancestor", Branch, "main"); err != nil {
				continue // not merged yet
			}
			sha, _ := git(ctx, dir, "rev-parse", "--short", "main")
			if err := b.m.Complete(ctx, strings.TrimSpace(run), "pull-request", migrator.Merged(map[string]string{"mergedAs": strings.TrimSpace(sha)})); err != nil {
				b.log.Warn("report merge", "repo", dir, "error", err)
				continue
			}
			_, _ = git(ctx, dir, "config", "--unset", pendingKey)
			b.log.Info("branch merged", "repo", dir)
		}
	}
}

// dryRun shows go.mod before and after, from main, without touching the repository.
func (b *Bumper) dryRun(ctx context.Context, req wire.DryRunRequest) (wire.DryRunResult, error) {
	res := wire.DryRunResult{Steps: []wire.StepDryRun{}}
	dir, err := b.dir(req.Candidate)
	var gomod string
	if err == nil {
		gomod, err = git(ctx, dir, "show", "main:go.mod")
	}
	for _, s := range req.Steps {
		step := wire.StepDryRun{StepName: s.Name}
		switch {
		case s.Name != "branch":
			step.Skipped = true
		case err != nil:
			step.Error = err.Error()
		default:
			step.Files = []wire.FileDiff{{Repo: req.Candidate.Id, Path: "go.mod", Before: gomod, After: bump(gomod, b.opts.Target), Status: wire.Modified}}
		}
		res.Steps = append(res.Steps, step)
	}
	return res, nil
}

// bump rewrites the go directive of a go.mod to target.
func bump(gomod, target string) string {
	return goDirective.ReplaceAllString(gomod, "go "+target)
}

func modulePath(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1]
		}
	}
	return ""
}

// older reports whether Go version a is older than b (both like 1.21 or 1.21.3).
func older(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < 3; i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	var out [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

func isRepo(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".git"))
	return err == nil
}

// git runs a git command in dir with a fixed identity and returns its output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	all := append([]string{"-C", dir, "-c", "user.name=Drover", "-c", "user.email=drover@localhost", "-c", "init.defaultBranch=main"}, args...)
	cmd := exec.CommandContext(ctx, "git", all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// CreateDemoWorkspace makes dir hold a few small Go repositories, most on older Go versions,
// unless it already exists. It needs the git binary.
func CreateDemoWorkspace(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return errors.New("the demo workspace needs git on PATH")
	}
	repos := map[string]string{"billing": "1.21", "search": "1.22", "checkout": "1.23.4", "inventory": "1.20", "gateway": "1.26"}
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		repo := filepath.Join(dir, name)
		if err := os.MkdirAll(repo, 0o755); err != nil {
			return err
		}
		files := map[string]string{
			"go.mod":  fmt.Sprintf("module example.com/%s\n\ngo %s\n", name, repos[name]),
			"main.go": fmt.Sprintf("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(%q) }\n", name),
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(repo, f), []byte(content), 0o644); err != nil {
				return err
			}
		}
		for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-qm", "Initial commit"}} {
			if _, err := git(ctx, repo, args...); err != nil {
				return fmt.Errorf("create demo repository %s: %w", name, err)
			}
		}
	}
	return nil
}
