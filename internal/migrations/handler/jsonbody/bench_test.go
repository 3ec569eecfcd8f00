package jsonbody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
)

var (
	bigOnce sync.Once
	bigBody []byte
)

// bigAnnouncement is an announcement of 50,000 candidates, each with metadata, a file group and
// a status, as a large migrator would send.
func bigAnnouncement() []byte {
	bigOnce.Do(func() {
		var b bytes.Buffer
		b.WriteString(`{"id":"base-image-bump","name":"Bump the base image","description":"Moves every service to the new base image.","migratorUrl":"http://migrator:8080","overview":["open PRs","merge"],"steps":[{"name":"open-pr","migratorApp":"images","config":{"image":"base:2"}},{"name":"merge","migratorApp":"images","type":"manual-review"}],"candidates":[`)
		for i := range 50_000 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"svc-%05d","kind":"service","metadata":{"team":"team-%d","owner":"owner%d@example.com","tier":"%d"},"files":[{"name":"prod","repo":"org/svc-%05d","files":[{"path":"deploy/prod/values.yaml","url":"https://git.example/org/svc-%05d/blob/main/deploy/prod/values.yaml"}]}],"status":"not_started"}`, i, i%40, i%300, i%3, i, i)
		}
		b.WriteString(`]}`)
		bigBody = b.Bytes()
	})
	return bigBody
}

// BenchmarkCheck validates the 50,000-candidate announcement, from a reader that tells its
// length (the copy is sized once) and from one that does not, as an HTTP body.
func BenchmarkCheck(b *testing.B) {
	v := mustCompile(b, specSchema(b, "announceMigration"))
	body := bigAnnouncement()
	for name, reader := range map[string]func() io.Reader{
		"bytes.Reader": func() io.Reader { return bytes.NewReader(body) },
		"body":         func() io.Reader { return io.NopCloser(bytes.NewReader(body)) },
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Check(reader()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKinVisitJSON is what the server did before on the same body (decode into any, then
// Schema.VisitJSON), for comparison.
func BenchmarkKinVisitJSON(b *testing.B) {
	s := specSchema(b, "announceMigration")
	body := bigAnnouncement()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
		if err := s.VisitJSON(v); err != nil {
			b.Fatal(err)
		}
	}
}
