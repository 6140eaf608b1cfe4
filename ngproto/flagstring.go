package ngproto

// Dialect selects whose flag-string rules ParseFlagString follows.
type Dialect uint8

const (
	OpenSIPS Dialect = iota
	Kamailio
)

// ParseFlagString turns a module flag string into NG keys (stub; see step 2).
func ParseFlagString(s string, dialect Dialect) (Dict, error) {
	return Dict{}, nil
}
