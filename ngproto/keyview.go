package ngproto

// keyView answers many lookups on one Dict. Dict.Get scans every key for
// an alias when the exact key is absent, and most of the ~40 keys
// ParseRequest asks for are absent: the scans were a third of decoding a
// request. The view folds the aliases once.
type keyView struct {
	d Dict
	// aliases holds the values of keys that differ from their folded form
	// (upper case, blanks or underscores), under the folded form; nil when
	// every key is already folded, as requests from the usual modules are.
	aliases map[string]any
}

func newKeyView(d Dict) keyView {
	v := keyView{d: d}
	for k, x := range d {
		if f := foldKey(k); f != k {
			if v.aliases == nil {
				v.aliases = make(map[string]any)
			}
			if _, dup := v.aliases[f]; !dup {
				v.aliases[f] = x
			}
		}
	}
	return v
}

// Get is Dict.Get: the exact key wins, then any alias.
func (v keyView) Get(key string) (any, bool) {
	if x, ok := v.d[key]; ok {
		return x, true
	}
	// The folded form is built on the stack: a map index by string(bytes)
	// does not allocate. (Callers ask for constants like "transport
	// protocol", which fold to another string, on every request.)
	var buf [64]byte
	if len(key) > len(buf) {
		f := foldKey(key)
		if x, ok := v.d[f]; ok {
			return x, true
		}
		x, ok := v.aliases[f]
		return x, ok
	}
	f := buf[:len(key)]
	changed := false
	for i := 0; i < len(key); i++ {
		f[i] = foldKeyByte(key[i])
		changed = changed || f[i] != key[i]
	}
	if changed {
		if x, ok := v.d[string(f)]; ok {
			return x, true
		}
	}
	x, ok := v.aliases[string(f)]
	return x, ok
}

func (v keyView) Str(key string) string {
	x, _ := v.Get(key)
	return toStr(x)
}

func (v keyView) Int(key string) (int64, bool) {
	x, ok := v.Get(key)
	if !ok {
		return 0, false
	}
	return toInt(x)
}

func (v keyView) List(key string) []string {
	x, _ := v.Get(key)
	return toList(x)
}

func (v keyView) Sub(key string) Dict {
	x, _ := v.Get(key)
	d, _ := x.(Dict)
	return d
}

// foldKey is the form keyEqual compares: lower case, '-' for ' ' and '_'.
// It allocates only when key is not already folded.
func foldKey(key string) string {
	for i := 0; i < len(key); i++ {
		if foldKeyByte(key[i]) != key[i] {
			b := []byte(key)
			for j := i; j < len(b); j++ {
				b[j] = foldKeyByte(b[j])
			}
			return string(b)
		}
	}
	return key
}
