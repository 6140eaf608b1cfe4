package ngcmp

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Diff is one structural difference between the reference reply (Want,
// rtpengine) and the candidate's (Got, mediad). For SDP bodies Path ends in
// "sdp" and the difference is one line present on one side only.
type Diff struct {
	Path string
	Want string // "" when absent
	Got  string // "" when absent
}

func (d Diff) String() string {
	switch {
	case d.Want == "":
		return fmt.Sprintf("%s: extra %s", d.Path, d.Got)
	case d.Got == "":
		return fmt.Sprintf("%s: missing %s", d.Path, d.Want)
	}
	return fmt.Sprintf("%s: want %s, got %s", d.Path, d.Want, d.Got)
}

// Compare diffs two normalised values.
func Compare(want, got any) []Diff {
	var ds []Diff
	compare("", want, got, &ds)
	return ds
}

func compare(path string, want, got any, ds *[]Diff) {
	if want == nil || got == nil {
		if want != nil || got != nil {
			*ds = append(*ds, Diff{Path: path, Want: render(want), Got: render(got)})
		}
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*ds = append(*ds, Diff{Path: path, Want: render(want), Got: render(got)})
			return
		}
		for _, k := range sortedKeys(w) {
			compare(join(path, k), w[k], g[k], ds)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				compare(join(path, k), nil, g[k], ds)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*ds = append(*ds, Diff{Path: path, Want: render(want), Got: render(got)})
			return
		}
		if strings.HasSuffix(path, "sdp") && allStrings(w) && allStrings(g) {
			lineDiff(path, w, g, ds)
			return
		}
		for i := 0; i < len(w) || i < len(g); i++ {
			var we, ge any
			if i < len(w) {
				we = w[i]
			}
			if i < len(g) {
				ge = g[i]
			}
			compare(fmt.Sprintf("%s[%d]", path, i), we, ge, ds)
		}
	default:
		if !reflect.DeepEqual(want, got) {
			*ds = append(*ds, Diff{Path: path, Want: render(want), Got: render(got)})
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any, []any:
		s := fmt.Sprintf("%v", x)
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		return s
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

func allStrings(l []any) bool {
	for _, e := range l {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// lineDiff reports SDP lines missing from or extra in got, using a longest
// common subsequence so that one inserted line is one difference.
func lineDiff(path string, w, g []any, ds *[]Diff) {
	n, m := len(w), len(g)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && w[i] == g[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			*ds = append(*ds, Diff{Path: fmt.Sprintf("%s@%d", path, j+1), Got: g[j].(string)})
			j++
		default:
			*ds = append(*ds, Diff{Path: fmt.Sprintf("%s@%d", path, i+1), Want: w[i].(string)})
			i++
		}
	}
}

// Allowance excuses differences that are deliberate. Path is a regular
// expression matched against Diff.Path (anchored); Value, when set, must
// match Want or Got. Reason says why the difference is deliberate.
type Allowance struct {
	Step   string // regular expression for step names (anchored); "" for every step
	Path   string
	Value  string
	Reason string

	stepRE, pathRE, valRE *regexp.Regexp
}

// Allows reports whether a excuses d in the named step.
func (a *Allowance) Allows(step string, d Diff) bool {
	if a.Step != "" {
		if a.stepRE == nil {
			a.stepRE = regexp.MustCompile("^(?:" + a.Step + ")$")
		}
		if !a.stepRE.MatchString(step) {
			return false
		}
	}
	if a.pathRE == nil {
		a.pathRE = regexp.MustCompile("^(?:" + a.Path + ")$")
	}
	if !a.pathRE.MatchString(d.Path) {
		return false
	}
	if a.Value == "" {
		return true
	}
	if a.valRE == nil {
		a.valRE = regexp.MustCompile(a.Value)
	}
	return a.valRE.MatchString(d.Want) || a.valRE.MatchString(d.Got)
}

// asMap converts named map types with string keys (ngproto.Dict) to
// map[string]any.
func asMap(v any) (map[string]any, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		out[it.Key().String()] = it.Value().Interface()
	}
	return out, true
}
