package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gin-gonic/gin"
)

func serve(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestServesBuildWithDeepLinks(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":      {Data: []byte("<html>app</html>")},
		"assets/app-1.js": {Data: []byte("console.log(1)")},
		"favicon.svg":     {Data: []byte("<svg/>")},
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	h := handlerFor(ui)
	r.GET(Prefix+"*path", gin.WrapH(h))
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, Prefix) })

	cases := []struct {
		path, want, cache string
		code              int
	}{
		{"/ui/", "<html>app</html>", "no-cache", 200},
		{"/ui/migrations/bump-go/candidates/billing", "<html>app</html>", "no-cache", 200},
		{"/ui/index.html", "<html>app</html>", "no-cache", 200},
		{"/ui/assets/app-1.js", "console.log(1)", "immutable", 200},
		{"/ui/favicon.svg", "<svg/>", "", 200},
		{"/ui/assets/gone-2.js", "404", "", 404},
		{"/ui/../console.go", "<html>app</html>", "no-cache", 200},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rec := serve(t, r, tc.path)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.want)
			}
			if !strings.Contains(rec.Header().Get("Cache-Control"), tc.cache) {
				t.Errorf("GET %s Cache-Control = %q, want %q", tc.path, rec.Header().Get("Cache-Control"), tc.cache)
			}
		})
	}
	if rec := serve(t, r, "/"); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("GET / = %d to %q, want a redirect to /ui/", rec.Code, rec.Header().Get("Location"))
	}
	if rec := serve(t, r, "/ui"); rec.Code/100 != 3 || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui = %d to %q, want a redirect to /ui/", rec.Code, rec.Header().Get("Location"))
	}
}

func TestPlaceholderWithoutBuild(t *testing.T) {
	h := handlerFor(fstest.MapFS{})
	for _, p := range []string{"/ui/", "/ui/migrations/x"} {
		rec := serve(t, h, p)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "npm --prefix console run build") {
			t.Fatalf("GET %s without a build = %d %q, want the build instructions", p, rec.Code, rec.Body.String())
		}
	}
}
