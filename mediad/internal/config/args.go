package config

import (
	"fmt"
)

// parseArgs splits the command line into option occurrences and stray
// arguments, following GLib's g_option_context_parse:
//   - "--name=value" and "--name value" (the next argument is taken even if
//     it starts with '-', which is how "-t -1" works);
//   - "--flag=anything" sets the flag (GLib ignores the value);
//   - short options may be grouped ("-fE"); an option needing a value in a
//     group takes the next argument ("-fL 7"), at most one per group;
//   - "--" ends option parsing; "-" alone is an argument.
//
// As an extension, "-L7" / "-t-1" (value attached to a short option) are
// accepted when the attached text is not itself a group of flags: GLib
// rejects those forms, so no working rtpengine command line changes meaning.
func parseArgs(idx optionIndex, args []string) (occs []occurrence, extra []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			extra = append(extra, args[i+1:]...)
			return occs, extra, nil
		case len(a) > 2 && a[:2] == "--":
			name, val, hasVal := cut(a[2:], '=')
			if name == "help" || name == "help-all" {
				return nil, nil, ErrHelp
			}
			o := idx.byLong[name]
			if o == nil {
				return nil, nil, fmt.Errorf("unknown option --%s", name)
			}
			if o.kind != kindNone && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("missing argument for --%s", name)
				}
				i++
				val = args[i]
			}
			occs = append(occs, occurrence{opt: o, name: "--" + name, val: val})
		case len(a) > 1 && a[0] == '-':
			group := a[1:]
			consumed := false // the next argument was taken by this group
			for j := 0; j < len(group); j++ {
				ch := group[j]
				if ch == 'h' || ch == '?' {
					return nil, nil, ErrHelp
				}
				o := idx.byShort[ch]
				if o == nil {
					return nil, nil, fmt.Errorf("unknown option -%c (in %q)", ch, a)
				}
				name := "-" + string(ch)
				if o.kind == kindNone {
					occs = append(occs, occurrence{opt: o, name: name})
					continue
				}
				if rest := group[j+1:]; rest != "" && !allFlags(idx, rest) {
					occs = append(occs, occurrence{opt: o, name: name, val: rest})
					break
				}
				if consumed {
					return nil, nil, fmt.Errorf("error parsing option %s: only one option of %q can take the next argument", name, a)
				}
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("missing argument for %s", name)
				}
				consumed = true
				occs = append(occs, occurrence{opt: o, name: name, val: args[i+1]})
			}
			if consumed {
				i++
			}
		default:
			extra = append(extra, a)
		}
	}
	return occs, extra, nil
}

// allFlags reports whether every character of s is a short option taking
// no value (so "-fLE 7" keeps GLib's meaning).
func allFlags(idx optionIndex, s string) bool {
	for i := 0; i < len(s); i++ {
		o := idx.byShort[s[i]]
		if o == nil || o.kind != kindNone {
			return false
		}
	}
	return true
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
