package jsonbody

import (
	"testing"
)

// FuzzCheck compares Check with kin-openapi on the StepStatusEvent schema: both accept or both
// refuse (except for the refusals only Check makes), an accepted copy is valid JSON, decodes
// to the body without its undeclared keys, and is accepted by kin-openapi.
func FuzzCheck(f *testing.F) {
	s := specSchema(f, "postStepEvent")
	v := mustCompile(f, s)
	for _, tc := range corpus() {
		if tc.op == "postStepEvent" && len(tc.body) < 4096 { // large seeds slow the fuzzer down
			f.Add(tc.body)
		}
	}
	for _, seed := range []string{
		`{"stepName":"s","candidateId":"c","status":"merged","metadata":{}}`,
		`{"stepName":"s","candidateId":"c-1.x_y","status":"failed","metadata":{"error":"\u00e9\ud83d\ude00"},"x":[1e5,-0.1,{"a":{}}]}`,
		`{"stepName":"s","candidateId":"c","status":"succeeded","dispatchId":"","METADATA":{"a":[]}}`,
		` {"status":"pending","candidateId":"c","stepName":"\t"} `,
		`{"stepName":"s","candidateId":"c","status":"pending","metadata":{"a":"b","a":"c"}}`,
		`{"stepName":"s","candidateId":"c","status":"pending","metadata":null,"dispatchId":null,"x":{"a":1,"a":2}}`,
		"{\"stepName\":\"\xff\\ud83d\",\"candidateId\":\"c\",\"status\":\"pending\",\"metadata\":{\"\\udc00\":\"\xe2\x82\",\"\":\"\"}}",
		`{"stepName":"s","candidateId":"c","status":"pending"}]`,
		`{"stepName":1}`,
		`[[[[[[`,
		`"x"`,
		`1.5e999`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compare(t, s, v, body)
	})
}
