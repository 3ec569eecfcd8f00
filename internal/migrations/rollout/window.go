package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Window is when a rollout may start runs: on its days, from Start to End (local clock times in
// TimeZone). An End at or before Start runs past midnight into the next day.
type Window struct {
	Days     []string `json:"days,omitempty"` // "mon" … "sun"; empty: every day
	Start    string   `json:"start"`          // "09:00"
	End      string   `json:"end"`            // "17:00"
	TimeZone string   `json:"timeZone"`       // an IANA name, e.g. "Europe/Berlin"
}

// window is a Window checked and ready to compute with.
type window struct {
	days       [7]bool
	start, end int // minutes after midnight
	loc        *time.Location
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// compile checks w, naming the field that is wrong as field.name.
func (w Window) compile(field string) (window, error) {
	var c window
	if len(w.Days) == 0 {
		c.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, d := range w.Days {
		n := slices.Index(dayNames, strings.ToLower(d))
		if n < 0 {
			return window{}, fieldError(fmt.Sprintf("%s.days[%d]", field, i), "%q is not a day; use %s", d, strings.Join(dayNames[1:], ", ")+", sun")
		}
		c.days[n] = true
	}
	var err error
	if c.start, err = clock(w.Start); err != nil {
		return window{}, fieldError(field+".start", "%v", err)
	}
	if c.end, err = clock(w.End); err != nil {
		return window{}, fieldError(field+".end", "%v", err)
	}
	if c.start == c.end {
		return window{}, fieldError(field+".end", "equals start: the window would never close (leave the window out to start at any time)")
	}
	if w.TimeZone == "" {
		return window{}, fieldError(field+".timeZone", "is required, e.g. Europe/Berlin or UTC")
	}
	if c.loc, err = time.LoadLocation(w.TimeZone); err != nil {
		return window{}, fieldError(field+".timeZone", "%q is not a known time zone (IANA names such as Europe/Berlin)", w.TimeZone)
	}
	return c, nil
}

// clock reads "HH:MM" as minutes after midnight.
func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day such as 09:00", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// NextOpen is the earliest instant at or after t when the window is open. Days are the local
// days the window opens on. On a daylight-saving day a clock time the change skips (02:30 in
// spring) is read with the offset before the change (so 03:30), and one it repeats (02:30 in
// autumn) is its second occurrence, as Go's time.Date reads them.
func (w window) NextOpen(t time.Time) time.Time {
	local := t.In(w.loc)
	y, m, d := local.Date()
	// Yesterday's window may still be open past midnight; then today's and the week's.
	for offset := -1; offset <= 7; offset++ {
		day := time.Date(y, m, d+offset, 0, 0, 0, 0, w.loc)
		if !w.days[day.Weekday()] {
			continue
		}
		open := at(day, w.start, w.loc)
		shut := at(day, w.end, w.loc)
		if w.end <= w.start {
			shut = at(day.AddDate(0, 0, 1), w.end, w.loc)
		}
		if t.Before(shut) {
			if t.Before(open) {
				return open
			}
			return t
		}
	}
	return t // unreachable with at least one day: a week holds every weekday
}

// Open reports whether the window is open at t.
func (w window) Open(t time.Time) bool { return w.NextOpen(t).Equal(t) }

// at is the instant of minutes after midnight on day's date in loc.
func at(day time.Time, minutes int, loc *time.Location) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, minutes/60, minutes%60, 0, 0, loc)
}
