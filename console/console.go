// Package console serves the operator console, a single-page app built by Vite into build/ui
// and embedded into the binary, at /ui/.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed all:build
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// Mount serves the console at /ui/ and redirects / there. Paths under /ui/ that are not files of
// the build get index.html, so a deep link survives a reload. Without a build (Go built before
// `npm run build`), every page says how to build the console.
func Mount(r *gin.Engine) {
	h := Handler()
	toUI := func(c *gin.Context) { c.Redirect(http.StatusFound, Prefix) }
	r.GET("/", toUI)
	r.HEAD("/", toUI)
	r.GET(Prefix+"*path", gin.WrapH(h))
	r.HEAD(Prefix+"*path", gin.WrapH(h))
}

// Handler serves the embedded build under Prefix.
func Handler() http.Handler {
	ui, err := fs.Sub(files, "build/ui")
	if err != nil {
		panic(err) // fs.Sub fails only on an invalid path literal
	}
	return handlerFor(ui)
}

func handlerFor(ui fs.FS) http.Handler {
	index, err := fs.ReadFile(ui, "index.html")
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(placeholder))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(ui, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					// Vite puts a content hash in every asset's name.
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				http.ServeFileFS(w, r, ui, name)
				return
			}
			if strings.HasPrefix(name, "assets/") {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
}

const placeholder = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drover console not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#eee;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>The console is not built into this binary</h1>
<p>This drover was compiled before the console was built. The API works (try <code>/migrations</code>).
To get the console, build it and then the binary:</p>
<pre><code>npm --prefix console ci
npm --prefix console run build
go build ./cmd/drover</code></pre>
<p>or run <code>./scripts/dev</code>, which does both and starts <code>drover dev</code>.</p>
</body></html>
`
