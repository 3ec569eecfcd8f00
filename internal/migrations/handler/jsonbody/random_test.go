package jsonbody

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestRandomBodiesAgainstKin generates bodies that follow the spec's schemas loosely (mostly
// valid values, now and then a wrong type, a bound just missed or met, unknown and case-variant
// keys, escapes, white space) and compares Check with kin-openapi on each.
func TestRandomBodiesAgainstKin(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 100
	}
	for _, op := range []string{"postStepEvent", "announceMigration", "submitCandidates", "updateInputs", "dryRun", "retryStep", "startRun"} {
		t.Run(op, func(t *testing.T) {
			s := specSchema(t, op)
			v := mustCompile(t, s)
			g := &gen{r: rand.New(rand.NewPCG(1, uint64(len(op))))}
			accepted := 0
			for range n {
				g.b.Reset()
				g.value(s, 0)
				if _, err := compare(t, s, v, []byte(g.b.String())); err == nil {
					accepted++
				}
			}
			t.Logf("%d of %d bodies accepted", accepted, n)
			if accepted == 0 || accepted == n {
				t.Fatalf("the generator should make both valid and invalid bodies")
			}
		})
	}
}

type gen struct {
	r *rand.Rand
	b strings.Builder
}

func (g *gen) p(x float64) bool { return g.r.Float64() < x }

func (g *gen) ws() {
	if g.p(0.05) {
		g.b.WriteString([]string{" ", "\n", "\t ", "\r\n"}[g.r.IntN(4)])
	}
}

func (g *gen) value(s *openapi3.Schema, depth int) {
	g.ws()
	defer g.ws()
	if g.p(0.02) || depth > 6 {
		g.junk(depth)
		return
	}
	switch {
	case s.Type.Is("object"):
		g.object(s, depth)
	case s.Type.Is("array"):
		n := g.r.IntN(3)
		if s.MaxItems != nil && *s.MaxItems <= 1000 && g.p(0.03) {
			n = int(*s.MaxItems) + g.r.IntN(3) - 1
		}
		if g.p(0.03) {
			n = 0
		}
		g.b.WriteByte('[')
		for i := range n {
			if i > 0 {
				g.b.WriteByte(',')
			}
			if s.Items != nil {
				g.value(s.Items.Value, depth+1)
			} else {
				g.junk(depth + 1)
			}
		}
		g.b.WriteByte(']')
	case s.Type.Is("string"):
		g.str(g.text(s))
	case s.Type.Is("boolean"):
		g.b.WriteString([]string{"true", "false"}[g.r.IntN(2)])
	default:
		g.junk(depth)
	}
}

func (g *gen) object(s *openapi3.Schema, depth int) {
	type member struct {
		key    string
		schema *openapi3.Schema // nil: any value
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	var members []member
	for _, name := range names {
		if g.p(0.9) || slices.Contains(s.Required, name) && g.p(0.5) {
			members = append(members, member{name, s.Properties[name].Value})
		}
	}
	if ap := s.AdditionalProperties.Schema; ap != nil {
		n := g.r.IntN(4)
		if s.MaxProps != nil && g.p(0.05) {
			n = int(*s.MaxProps) + g.r.IntN(3) - 1
		}
		for i := range n {
			members = append(members, member{fmt.Sprintf("k%d", i), ap.Value})
		}
		if g.p(0.03) {
			members = append(members, member{strings.Repeat("ü", 255+g.r.IntN(3)), ap.Value})
		}
	} else {
		if g.p(0.2) {
			members = append(members, member{"extra", nil})
		}
		if len(names) > 0 && g.p(0.1) {
			members = append(members, member{strings.ToUpper(names[g.r.IntN(len(names))]), nil})
		}
	}
	g.r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	if len(members) > 0 && g.p(0.02) {
		members = append(members, members[0]) // a duplicate
	}
	g.b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			g.b.WriteByte(',')
		}
		g.ws()
		g.str(m.key)
		g.ws()
		g.b.WriteByte(':')
		if m.schema == nil {
			g.junk(depth + 1)
		} else {
			g.value(m.schema, depth+1)
		}
	}
	g.b.WriteByte('}')
}

// text is a string for s: mostly valid, sometimes at or just past its bounds or off its enum
// or pattern.
func (g *gen) text(s *openapi3.Schema) string {
	switch {
	case len(s.Enum) > 0 && g.p(0.9):
		return s.Enum[g.r.IntN(len(s.Enum))].(string)
	case s.MaxLength != nil && g.p(0.05):
		return strings.Repeat([]string{"a", "é", "😀"}[g.r.IntN(3)], int(*s.MaxLength)+g.r.IntN(3)-1)
	case g.p(0.05):
		return ""
	case g.p(0.1):
		return []string{"bad id", "a__b", "-x", "x_", "A.b-c_d", "é", "\u0000", "\"\\/", "\U0001F600", "Pending", "\u2028"}[g.r.IntN(11)]
	}
	return fmt.Sprintf("v%d-x.y_z", g.r.IntN(1000))
}

// str writes a JSON string of v, escaping characters at random.
func (g *gen) str(v string) {
	g.b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			g.b.WriteByte('\\')
			g.b.WriteRune(r)
		case r < 0x20 || g.p(0.05):
			if r > 0xFFFF {
				r1, r2 := utf16Pair(r)
				fmt.Fprintf(&g.b, `\u%04x\u%04X`, r1, r2)
			} else {
				fmt.Fprintf(&g.b, `\u%04x`, r)
			}
		case r == '/' && g.p(0.5):
			g.b.WriteString(`\/`)
		default:
			g.b.WriteRune(r)
		}
	}
	g.b.WriteByte('"')
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

// junk is any JSON value.
func (g *gen) junk(depth int) {
	switch g.r.IntN(9) {
	case 0:
		g.b.WriteString("null")
	case 1:
		g.b.WriteString([]string{"true", "false"}[g.r.IntN(2)])
	case 2:
		g.b.WriteString([]string{"0", "-1", "1.5", "2e10", "-0.0E-2", "1e400", "123456789012345678901234567890"}[g.r.IntN(7)])
	case 3, 4:
		g.str(g.text(&openapi3.Schema{}))
	case 5, 6:
		if depth > 8 {
			g.b.WriteString("[]")
			return
		}
		g.b.WriteByte('[')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.junk(depth + 1)
		}
		g.b.WriteByte(']')
	default:
		if depth > 8 {
			g.b.WriteString("{}")
			return
		}
		g.b.WriteByte('{')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.str([]string{"a", "b", "metadata", "status", "id"}[i])
			g.b.WriteByte(':')
			g.junk(depth + 1)
		}
		g.b.WriteByte('}')
	}
}
