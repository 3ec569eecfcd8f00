package jsonbody

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	readBuffer = 32 << 10
	// quoteChars is how much of a too long string an error message quotes.
	quoteChars = 40
	// linearKeys is how many keys of one object are compared one by one before a hash set is used.
	linearKeys = 16
)

// errTooLong is a string longer than its limit, which is not a syntax error; the caller says
// where.
var errTooLong = errors.New("too long")

// scanner reads the body through a fixed buffer.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	base     int64 // offset of buf[0] in the body
	eof      bool
	rerr     error // a read error other than io.EOF
}

func (s *scanner) reset(r io.Reader) {
	s.r, s.pos, s.end, s.base, s.eof, s.rerr = r, 0, 0, 0, false, nil
}

// fill reads more of the body, keeping the unread bytes; it reports whether any arrived.
func (s *scanner) fill() bool {
	if s.eof || s.rerr != nil {
		return false
	}
	if s.pos > 0 {
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.pos = 0
	}
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			s.rerr = err
		}
		if n > 0 || err != nil {
			return n > 0
		}
		if empty == 100 {
			s.rerr = io.ErrNoProgress
			return false
		}
	}
}

// ensure makes n bytes readable unless the body ends first.
func (s *scanner) ensure(n int) {
	for s.end-s.pos < n && s.fill() {
	}
}

func (s *scanner) peek() (byte, bool) {
	if s.pos < s.end || s.fill() {
		return s.buf[s.pos], true
	}
	return 0, false
}

// skipWS skips white space and returns the next byte, without consuming it.
func (s *scanner) skipWS() (byte, bool) {
	for {
		for s.pos < s.end {
			switch b := s.buf[s.pos]; b {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return b, true
			}
		}
		if !s.fill() {
			return 0, false
		}
	}
}

// frame is the state of the open object at one nesting level, reused from object to object.
// Only an object kept in the copy tracks its keys for duplicate detection; inside a value that
// is dropped from the copy only key holds anything (the decoder never sees such a value).
type frame struct {
	seen []uint64       // declared properties given, by prop.idx
	key  []byte         // the current key, decoded
	keys []byte         // undeclared keys given, one after the other
	ends []int          // where each of keys ends
	set  map[uint64]int // hash of a key in keys → its index, once there are more than linearKeys
}

func (f *frame) reset(props int) {
	words := (props + 63) / 64
	if cap(f.seen) < words {
		f.seen = make([]uint64, words)
	} else {
		f.seen = f.seen[:words]
		clear(f.seen)
	}
	f.keys, f.ends = f.keys[:0], f.ends[:0]
	if len(f.set) > 4096 {
		f.set = nil
	} else if len(f.set) > 0 {
		clear(f.set)
	}
}

// see records declared property i; it reports false when the object already gave it.
func (f *frame) see(i int) bool {
	w, bit := i/64, uint64(1)<<(i%64)
	if f.seen[w]&bit != 0 {
		return false
	}
	f.seen[w] |= bit
	return true
}

func (f *frame) has(i int) bool { return f.seen[i/64]&(uint64(1)<<(i%64)) != 0 }

func (f *frame) keyAt(i int) []byte {
	start := 0
	if i > 0 {
		start = f.ends[i-1]
	}
	return f.keys[start:f.ends[i]]
}

func (f *frame) index(k []byte) int {
	start := 0
	for i, end := range f.ends {
		if bytes.Equal(f.keys[start:end], k) {
			return i
		}
		start = end
	}
	return -1
}

// add records an undeclared key; it reports false when the object already gave it.
func (f *frame) add(k []byte, seed maphash.Seed) bool {
	n := len(f.ends)
	if n < linearKeys {
		if f.index(k) >= 0 {
			return false
		}
	} else {
		if n == linearKeys {
			if f.set == nil {
				f.set = make(map[uint64]int)
			}
			for i := range n {
				f.set[maphash.Bytes(seed, f.keyAt(i))] = i
			}
		}
		h := maphash.Bytes(seed, k)
		if i, ok := f.set[h]; !ok {
			f.set[h] = n
		} else if bytes.Equal(f.keyAt(i), k) || f.index(k) >= 0 { // a collision falls back to a scan
			return false
		}
	}
	f.keys = append(f.keys, k...)
	f.ends = append(f.ends, len(f.keys))
	return true
}

// seg is one step of the path to the current value: an array index, or (index < 0) an object
// member's key, which may be empty.
type seg struct {
	key   []byte
	index int
}

// checker is the state of one Check.
type checker struct {
	lim     Limits
	s       scanner
	out     []byte
	scratch []byte // the current string, decoded
	frames  []frame
	path    []seg
	seed    maphash.Seed
}

// release drops what the checker must not keep between checks.
func (c *checker) release() {
	c.s.r, c.out, c.path = nil, nil, c.path[:0]
	if cap(c.scratch) > 64<<10 {
		c.scratch = nil
	}
	for i := range c.frames {
		f := &c.frames[i]
		if cap(f.keys) > 64<<10 || cap(f.ends) > 4096 {
			f.keys, f.ends, f.set = nil, nil, nil
		}
	}
}

func (c *checker) document(root *node) ([]byte, error) {
	if _, ok := c.s.skipWS(); !ok {
		if c.s.rerr != nil {
			return nil, c.eof()
		}
		return nil, &Error{Syntax: true, Reason: "the body is empty"}
	}
	if err := c.value(root, 0); err != nil {
		return nil, err
	}
	if b, ok := c.s.skipWS(); ok {
		return nil, c.syntax(fmt.Sprintf("invalid character %s after the document", char(b)))
	}
	if c.s.rerr != nil {
		return nil, c.eof()
	}
	return c.out, nil
}

// value checks the value that follows against n and copies it to out; depth is the number of
// arrays and objects around it.
func (c *checker) value(n *node, depth int) error {
	s := &c.s
	c.grow()
	b, ok := s.skipWS()
	if !ok {
		return c.eof()
	}
	if b == 'n' {
		if err := c.literal("null", false); err != nil {
			return err
		}
		if !n.nullable {
			return c.fail("must not be null")
		}
		c.out = append(c.out, "null"...)
		return nil
	}
	if n.any {
		return c.raw(true, depth)
	}
	switch {
	case b == '{':
		if n.types&tObject == 0 {
			return c.typeError(n)
		}
		if depth >= c.lim.MaxDepth {
			return c.fail(fmt.Sprintf("nests more than %d levels deep", c.lim.MaxDepth))
		}
		return c.object(n, depth+1)
	case b == '[':
		if n.types&tArray == 0 {
			return c.typeError(n)
		}
		if depth >= c.lim.MaxDepth {
			return c.fail(fmt.Sprintf("nests more than %d levels deep", c.lim.MaxDepth))
		}
		return c.array(n, depth+1)
	case b == '"':
		if n.types&tString == 0 {
			return c.typeError(n)
		}
		return c.stringValue(n)
	case b == '-' || '0' <= b && b <= '9':
		if n.types&(tInteger|tNumber) == 0 {
			return c.typeError(n)
		}
		return c.numberValue(n)
	case b == 't' || b == 'f':
		if n.types&tBoolean == 0 {
			return c.typeError(n)
		}
		lit := "true"
		if b == 'f' {
			lit = "false"
		}
		if err := c.literal(lit, true); err != nil {
			return err
		}
		if n.enum && !slices.Contains(n.enumBool, b == 't') {
			return c.fail(fmt.Sprintf("%s is not one of %s", lit, n.enumNames))
		}
		return nil
	}
	return c.syntax(fmt.Sprintf("invalid character %s looking for the beginning of a value", char(b)))
}

// grow doubles out when it runs short, so that a large copy costs about twice its size in
// allocations rather than the five times of append's growth for large slices.
func (c *checker) grow() {
	if cap(c.out)-len(c.out) < 256 {
		out := make([]byte, len(c.out), 2*cap(c.out)+4096)
		copy(out, c.out)
		c.out = out
	}
}

func (c *checker) object(n *node, level int) error {
	s := &c.s
	s.pos++ // {
	c.out = append(c.out, '{')
	f := &c.frames[level]
	f.reset(len(n.props))
	count, kept := 0, 0
	b, ok := s.skipWS()
	if !ok {
		return c.eof()
	}
	if b == '}' {
		s.pos++
	} else {
		for {
			if err := c.key(f, b); err != nil {
				return err
			}
			var child *node
			optional := false // declared, neither required nor nullable
			if p := n.props[string(f.key)]; p != nil {
				if !f.see(p.idx) {
					return c.failKey(f.key, "is given twice")
				}
				child = p.node
				optional = !p.required && !p.node.nullable
			} else {
				if !f.add(f.key, c.seed) {
					return c.failKey(f.key, "is given twice")
				}
				switch n.extra {
				case extraSchema:
					child = n.extraNode
				case extraForbid:
					return c.fail(fmt.Sprintf("has the key %s, which is not allowed", quote(f.key, 128, utf8.RuneCount(f.key))))
				}
			}
			// null for an optional property stands for its absence (Jackson and pydantic send
			// an unset field so): it is left out of the copy and not counted.
			absent := optional && c.nullNext()
			if !absent {
				if count++; n.maxProps >= 0 && count > n.maxProps {
					return c.fail(fmt.Sprintf("has more than %d keys; at most %d allowed", n.maxProps, n.maxProps))
				}
			}
			c.path = append(c.path, seg{key: f.key, index: -1})
			var err error
			if child == nil || absent { // left out of the copy
				err = c.raw(false, level)
			} else {
				if kept > 0 {
					c.out = append(c.out, ',')
				}
				kept++
				c.out = appendString(c.out, f.key)
				c.out = append(c.out, ':')
				err = c.value(child, level)
			}
			c.path = c.path[:len(c.path)-1]
			if err != nil {
				return err
			}
			closed, nb, err := c.next('}', "object member")
			if err != nil {
				return err
			}
			if closed {
				break
			}
			b = nb
		}
	}
	if count < n.minProps {
		return c.fail(fmt.Sprintf("must have at least %s", plural(n.minProps, "key")))
	}
	for _, p := range n.required {
		if !f.has(p.idx) {
			return c.failKey([]byte(p.name), "is required")
		}
	}
	c.out = append(c.out, '}')
	return nil
}

func (c *checker) array(n *node, level int) error {
	s := &c.s
	s.pos++ // [
	c.out = append(c.out, '[')
	b, ok := s.skipWS()
	if !ok {
		return c.eof()
	}
	i := 0
	if b == ']' {
		s.pos++
	} else {
		for {
			if n.maxItems >= 0 && i >= n.maxItems {
				return c.fail(fmt.Sprintf("has more than %d items; at most %d allowed", n.maxItems, n.maxItems))
			}
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.path = append(c.path, seg{index: i})
			err := c.value(n.items, level)
			c.path = c.path[:len(c.path)-1]
			if err != nil {
				return err
			}
			i++
			closed, nb, err := c.next(']', "array element")
			if err != nil {
				return err
			}
			if closed {
				break
			}
			b = nb
		}
	}
	if i < n.minItems {
		return c.fail(fmt.Sprintf("must have at least %s", plural(n.minItems, "item")))
	}
	c.out = append(c.out, ']')
	return nil
}

// nullNext reports whether the value that follows starts as null does, without consuming it.
func (c *checker) nullNext() bool {
	b, ok := c.s.skipWS()
	return ok && b == 'n'
}

// next consumes the ',' or the closer after a member or element and reports which; after a ','
// it returns the first byte of the next member or element.
func (c *checker) next(closer byte, what string) (closed bool, b byte, err error) {
	s := &c.s
	b, ok := s.skipWS()
	if !ok {
		return false, 0, c.eof()
	}
	switch b {
	case closer:
		s.pos++
		return true, b, nil
	case ',':
		s.pos++
		if b, ok = s.skipWS(); !ok {
			return false, 0, c.eof()
		}
		return false, b, nil
	}
	return false, 0, c.syntax(fmt.Sprintf("invalid character %s after %s", char(b), what))
}

// key reads an object key (b is the byte at the scanner) and the ':' after it into f.key.
func (c *checker) key(f *frame, b byte) error {
	s := &c.s
	if b != '"' {
		return c.syntax(fmt.Sprintf("invalid character %s looking for the beginning of an object key", char(b)))
	}
	s.pos++
	f.key = f.key[:0]
	_, err := c.str(&f.key, c.lim.MaxKeyLength, true)
	switch err {
	case nil:
	case errTooLong:
		return c.fail(fmt.Sprintf("has a key of more than %d characters", c.lim.MaxKeyLength))
	default:
		return err
	}
	b, ok := s.skipWS()
	if !ok {
		return c.eof()
	}
	if b != ':' {
		return c.syntax(fmt.Sprintf("invalid character %s after an object key", char(b)))
	}
	s.pos++
	return nil
}

func (c *checker) stringValue(n *node) error {
	c.s.pos++ // "
	c.scratch = c.scratch[:0]
	chars, err := c.str(&c.scratch, n.storeLimit, false)
	if err != nil {
		return err
	}
	val := c.scratch // only the first n.storeLimit characters when longer
	switch {
	case n.maxLen >= 0 && chars > n.maxLen:
		return c.fail(fmt.Sprintf("is %d characters long; at most %d allowed", chars, n.maxLen))
	case chars < n.minLen:
		if n.minLen == 1 {
			return c.fail("must not be empty")
		}
		return c.fail(fmt.Sprintf("must be at least %d characters long", n.minLen))
	case n.enum && (chars > n.storeLimit || !inEnum(n.enumStr, val)):
		return c.fail(fmt.Sprintf("%s is not one of %s", quote(val, 128, chars), n.enumNames))
	case n.pattern != nil && !n.pattern.Match(val):
		if n.desc != "" {
			return c.fail(fmt.Sprintf("%s is not valid: expected %s", quote(val, 128, chars), n.desc))
		}
		return c.fail(fmt.Sprintf("%s does not match %s", quote(val, 128, chars), n.patternSrc))
	}
	c.out = appendString(c.out, val)
	return nil
}

func (c *checker) numberValue(n *node) error {
	start := len(c.out)
	if err := c.number(true); err != nil {
		return err
	}
	text := c.out[start:]
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return c.fail(fmt.Sprintf("%s is out of range for a number", quote(text, quoteChars, len(text))))
	}
	switch {
	case n.types&tNumber == 0 && f != math.Trunc(f):
		return c.typeError(n)
	case n.enum && !slices.Contains(n.enumNum, f):
		return c.fail(fmt.Sprintf("%s is not one of %s", text, n.enumNames))
	case n.min != nil && !(*n.min <= f):
		return c.fail(fmt.Sprintf("must be at least %g", *n.min))
	case n.max != nil && !(*n.max >= f):
		return c.fail(fmt.Sprintf("must be at most %g", *n.max))
	}
	return nil
}

func inEnum(enum []string, v []byte) bool {
	for _, e := range enum {
		if string(v) == e {
			return true
		}
	}
	return false
}

// raw checks the syntax and limits of the value that follows, which no schema describes, and
// copies it to out when emit is set. Only then are its objects checked for duplicate keys: a
// value left out of the copy never reaches the decoder, and tracking its keys would cost
// memory in proportion to their number (its depth and key lengths are still bounded).
func (c *checker) raw(emit bool, depth int) error {
	s := &c.s
	if emit {
		c.grow()
	}
	b, ok := s.skipWS()
	if !ok {
		return c.eof()
	}
	switch {
	case b == '{' || b == '[':
		if depth >= c.lim.MaxDepth {
			return c.fail(fmt.Sprintf("nests more than %d levels deep", c.lim.MaxDepth))
		}
		level := depth + 1
		s.pos++
		closer := byte(']')
		if b == '{' {
			closer = '}'
			if emit {
				c.frames[level].reset(0)
			}
		}
		if emit {
			c.out = append(c.out, b)
		}
		b, ok := s.skipWS()
		if !ok {
			return c.eof()
		}
		what := "array element"
		if closer == '}' {
			what = "object member"
		}
		if b == closer {
			s.pos++
		}
		for i := 0; b != closer; i++ {
			if emit && i > 0 {
				c.out = append(c.out, ',')
			}
			if closer == '}' {
				f := &c.frames[level]
				if err := c.key(f, b); err != nil {
					return err
				}
				if emit {
					if !f.add(f.key, c.seed) {
						return c.failKey(f.key, "is given twice")
					}
					c.out = appendString(c.out, f.key)
					c.out = append(c.out, ':')
				}
				c.path = append(c.path, seg{key: f.key, index: -1})
			} else {
				c.path = append(c.path, seg{index: i})
			}
			err := c.raw(emit, level)
			c.path = c.path[:len(c.path)-1]
			if err != nil {
				return err
			}
			closed, nb, err := c.next(closer, what)
			if err != nil {
				return err
			}
			if closed {
				break
			}
			if nb == closer { // a ',' before the closer
				return c.syntax(fmt.Sprintf("invalid character %s after ','", char(nb)))
			}
			b = nb
		}
		if emit {
			c.out = append(c.out, closer)
		}
		return nil
	case b == '"':
		s.pos++
		if !emit {
			_, err := c.str(nil, -1, false)
			return err
		}
		c.scratch = c.scratch[:0]
		if _, err := c.str(&c.scratch, -1, false); err != nil {
			return err
		}
		c.out = appendString(c.out, c.scratch)
		return nil
	case b == '-' || '0' <= b && b <= '9':
		return c.number(emit)
	case b == 't':
		return c.literal("true", emit)
	case b == 'f':
		return c.literal("false", emit)
	case b == 'n':
		return c.literal("null", emit)
	}
	return c.syntax(fmt.Sprintf("invalid character %s looking for the beginning of a value", char(b)))
}

// str reads the rest of a string (the opening quote consumed) and returns its length in
// characters. It appends the decoded string to dst, unless dst is nil, up to limit characters
// (limit < 0: all); with stop, a string longer than limit fails with errTooLong at once.
// As encoding/json decodes strings, each byte that is not part of valid UTF-8 and each \u
// escape of an unpaired UTF-16 surrogate stands for U+FFFD, one character; so the decoded
// string is valid UTF-8.
func (c *checker) str(dst *[]byte, limit int, stop bool) (int, error) {
	s := &c.s
	store := dst != nil
	chars := 0
	for {
		if s.pos >= s.end && !s.fill() {
			return chars, c.eof()
		}
		buf := s.buf[s.pos:s.end]
		i := 0
		for i < len(buf) {
			if b := buf[i]; b < 0x20 || b == '"' || b == '\\' || b >= utf8.RuneSelf {
				break
			}
			i++
		}
		if i > 0 { // a run of plain ASCII
			if limit >= 0 && chars+i > limit {
				if stop {
					return chars + i, errTooLong
				}
				if store {
					*dst = append(*dst, buf[:limit-chars]...)
					store = false
				}
			} else if store {
				*dst = append(*dst, buf[:i]...)
			}
			chars += i
			s.pos += i
			continue
		}
		var r rune
		switch b := buf[0]; {
		case b == '"':
			s.pos++
			return chars, nil
		case b < 0x20:
			return chars, c.syntax(fmt.Sprintf("invalid character %s in a string", char(b)))
		case b == '\\':
			var err error
			if r, err = c.escape(); err != nil {
				return chars, err
			}
		default:
			s.ensure(utf8.UTFMax)
			var size int
			r, size = utf8.DecodeRune(s.buf[s.pos:s.end]) // an invalid byte: U+FFFD, size 1
			s.pos += size
		}
		if limit >= 0 && chars >= limit {
			if stop {
				return chars + 1, errTooLong
			}
			store = false
		}
		if store {
			*dst = utf8.AppendRune(*dst, r)
		}
		chars++
	}
}

// escape reads a backslash escape and returns the character it stands for: U+FFFD for an
// unpaired surrogate, as encoding/json decodes it. A high surrogate pairs with the \u escape of
// a low surrogate right after it; anything else after it is read on its own, as a low
// surrogate without a high one before it is.
func (c *checker) escape() (rune, error) {
	s := &c.s
	s.pos++ // backslash
	b, ok := s.peek()
	if !ok {
		return 0, c.eof()
	}
	s.pos++
	switch b {
	case '"', '\\', '/':
		return rune(b), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := c.hex4()
		if err != nil || !utf16.IsSurrogate(r) {
			return r, err
		}
		if r < 0xDC00 {
			s.ensure(6)
			if r2, ok := lowSurrogate(s.buf[s.pos:s.end]); ok {
				s.pos += 6
				return utf16.DecodeRune(r, r2), nil
			}
		}
		return utf8.RuneError, nil
	}
	return 0, c.syntax(fmt.Sprintf("invalid character %s in a string escape", char(b)))
}

// lowSurrogate reads the \u escape of a low surrogate at the start of b, if there is one.
func lowSurrogate(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, h := range b[2:6] {
		switch {
		case '0' <= h && h <= '9':
			h -= '0'
		case 'a' <= h && h <= 'f':
			h -= 'a' - 10
		case 'A' <= h && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, 0xDC00 <= r && r <= 0xDFFF
}

func (c *checker) hex4() (rune, error) {
	var r rune
	for range 4 {
		b, ok := c.s.peek()
		if !ok {
			return 0, c.eof()
		}
		switch {
		case '0' <= b && b <= '9':
			b -= '0'
		case 'a' <= b && b <= 'f':
			b -= 'a' - 10
		case 'A' <= b && b <= 'F':
			b -= 'A' - 10
		default:
			return 0, c.syntax(fmt.Sprintf("invalid character %s in a \\u escape", char(b)))
		}
		c.s.pos++
		r = r<<4 | rune(b)
	}
	return r, nil
}

// number reads a number, appending its text to out when emit is set.
func (c *checker) number(emit bool) error {
	s := &c.s
	take := func() {
		if emit {
			c.out = append(c.out, s.buf[s.pos])
		}
		s.pos++
	}
	digits := func() (int, error) {
		n := 0
		for {
			b, ok := s.peek()
			if !ok {
				if s.rerr != nil {
					return n, c.eof()
				}
				return n, nil
			}
			if b < '0' || b > '9' {
				return n, nil
			}
			take()
			n++
		}
	}
	// needDigits reads the digits that must follow a '-', '.' or exponent.
	needDigits := func(what string) error {
		n, err := digits()
		if err != nil {
			return err
		}
		if n == 0 {
			if b, ok := s.peek(); ok {
				return c.syntax(fmt.Sprintf("invalid character %s in a number, expecting a digit %s", char(b), what))
			}
			return c.eof()
		}
		return nil
	}
	if b, _ := s.peek(); b == '-' {
		take()
	}
	if b, ok := s.peek(); ok && b == '0' {
		take()
	} else if err := needDigits("at its start"); err != nil {
		return err
	}
	if b, ok := s.peek(); ok && b == '.' {
		take()
		if err := needDigits("after the decimal point"); err != nil {
			return err
		}
	}
	if b, ok := s.peek(); ok && (b == 'e' || b == 'E') {
		take()
		if b, ok := s.peek(); ok && (b == '+' || b == '-') {
			take()
		}
		if err := needDigits("in the exponent"); err != nil {
			return err
		}
	}
	if s.rerr != nil {
		return c.eof()
	}
	return nil
}

func (c *checker) literal(lit string, emit bool) error {
	for i := range len(lit) {
		b, ok := c.s.peek()
		if !ok {
			return c.eof()
		}
		if b != lit[i] {
			return c.syntax(fmt.Sprintf("invalid character %s in the literal %s", char(b), lit))
		}
		c.s.pos++
	}
	if emit {
		c.out = append(c.out, lit...)
	}
	return nil
}

// appendString appends s, valid UTF-8, as a JSON string.
func appendString(out, s []byte) []byte {
	out = append(out, '"')
	start := 0
	for i, b := range s {
		if b >= 0x20 && b != '"' && b != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch b {
		case '"', '\\':
			out = append(out, '\\', b)
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			out = append(out, '\\', 'u', '0', '0', "0123456789abcdef"[b>>4], "0123456789abcdef"[b&0xF])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// Errors.

// pathString renders the path to the current value, e.g. candidates[0].files[1].path; an empty
// key is written "" (metadata."").
func (c *checker) pathString() string {
	var b strings.Builder
	for _, sg := range c.path {
		if sg.index >= 0 {
			fmt.Fprintf(&b, "[%d]", sg.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if len(sg.key) == 0 {
			b.WriteString(`""`)
		} else {
			b.Write(sg.key)
		}
	}
	return b.String()
}

// fail refuses the current value.
func (c *checker) fail(reason string) error {
	return &Error{Field: c.pathString(), Reason: reason}
}

// failKey refuses the member key of the current object.
func (c *checker) failKey(key []byte, reason string) error {
	c.path = append(c.path, seg{key: key, index: -1})
	err := c.fail(reason)
	c.path = c.path[:len(c.path)-1]
	return err
}

func (c *checker) typeError(n *node) error {
	return c.fail("must be of type " + n.typeName)
}

func (c *checker) syntax(msg string) error {
	return &Error{Syntax: true, Reason: fmt.Sprintf("%s at offset %d", msg, c.s.base+int64(c.s.pos))}
}

// eof explains why the body ended: a read error, or the end of a body that is not complete.
func (c *checker) eof() error {
	if c.s.rerr != nil {
		return fmt.Errorf("jsonbody: read request body: %w", c.s.rerr)
	}
	return &Error{Syntax: true, Reason: "unexpected end of the body"}
}

func char(b byte) string {
	if b < 0x20 || b >= utf8.RuneSelf {
		return fmt.Sprintf("0x%02x", b)
	}
	return strconv.QuoteRune(rune(b))
}

// quote quotes the first n characters of s, valid UTF-8 and the start of a string of chars
// characters, with an ellipsis when that leaves some out.
func quote(s []byte, n, chars int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRune(s[i:])
		i += size
	}
	q := strconv.Quote(string(s[:i]))
	if i == len(s) && chars <= n {
		return q
	}
	return q[:len(q)-1] + "…\""
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
