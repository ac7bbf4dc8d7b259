package tsql

import "slices"

// Object is what a BACKUP or RESTORE statement copies.
type Object uint8

// Objects of BACKUP/RESTORE.
const (
	ObjectUnknown Object = iota
	ObjectDatabase
	ObjectLog
	ObjectCertificate
	ObjectMasterKey
	ObjectServiceMasterKey
	ObjectSymmetricKey
	ObjectMetadata // RESTORE HEADERONLY/FILELISTONLY/LABELONLY/VERIFYONLY: reads, restores nothing
)

var objectNames = [...]string{"unknown", "database", "log", "certificate", "master key", "service master key", "symmetric key", "metadata"}

func (o Object) String() string {
	if int(o) < len(objectNames) {
		return objectNames[o]
	}
	return "unknown"
}

// IsKey reports whether o is key material (certificate or key).
func (o Object) IsKey() bool {
	return o == ObjectCertificate || o == ObjectMasterKey || o == ObjectServiceMasterKey || o == ObjectSymmetricKey
}

// DestKind is the kind of a backup destination (or restore source).
type DestKind uint8

// Destination kinds.
const (
	DestUnknown DestKind = iota // a variable, or the statement was cut before the value
	DestURL
	DestDisk
	DestTape
	DestFile   // TO FILE = (certificates and keys)
	DestDevice // a logical backup device name
)

var destNames = [...]string{"unknown", "url", "disk", "tape", "file", "device"}

func (k DestKind) String() string {
	if int(k) < len(destNames) {
		return destNames[k]
	}
	return "unknown"
}

// Destination is one TO/FROM/MIRROR TO target.
type Destination struct {
	Kind DestKind
	// Value is the literal (URL, path, device name); for a variable it is
	// the variable name and Kind is DestUnknown.
	Value string
	// Declared is the kind written before '=' (URL/DISK/TAPE/FILE) when
	// Kind is DestUnknown because the value is a variable.
	Declared DestKind
}

// Backup is a parsed BACKUP or RESTORE statement.
type Backup struct {
	Restore      bool
	Object       Object
	Name         string // database, certificate or key name ("" for master keys)
	Destinations []Destination
	Options      []Option // WITH options, names lower case
	// NoTarget is true for a RESTORE without FROM (e.g. WITH RECOVERY).
	NoTarget bool
	// Truncated is true when the statement ended before the destinations
	// were complete.
	Truncated bool
}

// Has reports whether the WITH option name (lower case) is present.
func (b *Backup) Has(name string) bool {
	_, ok := optionValue(b.Options, name)
	return ok
}

// Option returns the value of the WITH option name.
func (b *Backup) Option(name string) (string, bool) { return optionValue(b.Options, name) }

// Unknown reports whether some destination cannot be known from the
// statement (variables, truncation, no destination at all).
func (b *Backup) Unknown() bool {
	if b.NoTarget && !b.Truncated {
		return false
	}
	if len(b.Destinations) == 0 || b.Truncated {
		return true
	}
	for _, d := range b.Destinations {
		if d.Kind == DestUnknown {
			return true
		}
	}
	return false
}

// ParseBackup parses the first BACKUP or RESTORE statement in s.
func ParseBackup(s string) *Backup {
	toks, trunc := Lex(s)
	return parseBackup(toks, trunc)
}

func parseBackup(toks []Token, trunc bool) *Backup {
	start := -1
	for i, t := range toks {
		if (t.Is("backup") || t.Is("restore")) && (i == 0 || !toks[i-1].IsPunct(".")) && i+1 < len(toks) && toks[i+1].Kind == Word {
			switch toks[i+1].Text {
			case "database", "log", "certificate", "master", "service", "symmetric",
				"headeronly", "filelistonly", "labelonly", "verifyonly", "rewindonly":
				start = i
			}
		}
		if start >= 0 {
			break
		}
	}
	if start < 0 {
		return nil
	}
	c := &cursor{toks: toks, i: start}
	b := &Backup{Restore: c.next().Is("restore")}
	switch w := c.next().Text; w {
	case "database":
		b.Object = ObjectDatabase
		b.Name = c.name()
	case "log":
		b.Object = ObjectLog
		b.Name = c.name()
	case "certificate":
		b.Object = ObjectCertificate
		b.Name = c.name()
	case "master":
		c.accept("key")
		b.Object = ObjectMasterKey
	case "service":
		c.accept("master")
		c.accept("key")
		b.Object = ObjectServiceMasterKey
	case "symmetric":
		c.accept("key")
		b.Object = ObjectSymmetricKey
		b.Name = c.name()
	default:
		b.Object = ObjectMetadata
	}
	target := "to"
	if b.Restore {
		target = "from"
	}
	// Skip file/filegroup lists and PAGE = '...' up to TO/FROM.
	seen := false
	for !c.endOfStatement() {
		t := c.peek()
		if t.Is(target) {
			c.next()
			seen = true
			b.destinations(c)
			continue
		}
		if t.Is("mirror") && c.peekAt(1).Is("to") {
			c.i += 2
			b.destinations(c)
			continue
		}
		if t.Is("with") {
			c.next()
			b.options(c)
			break
		}
		if t.Kind == Word && isStatementStart(t.Text) && seen {
			break
		}
		if t.IsPunct("(") {
			c.group()
			continue
		}
		c.next()
	}
	b.NoTarget = b.Restore && !seen
	b.Truncated = b.Truncated || trunc || (!seen && !b.Restore)
	return b
}

// maxOptions and maxDestinations bound what one BACKUP/RESTORE keeps.
const (
	maxOptions      = 64
	maxDestinations = 64
)

// destinations reads "KIND = value [, KIND = value]..." or device names.
// Beyond maxDestinations the statement is marked truncated: what the
// unread ones are is unknown.
func (b *Backup) destinations(c *cursor) {
	for !c.endOfStatement() {
		if len(b.Destinations) >= maxDestinations {
			b.Truncated = true
			return
		}
		t := c.peek()
		if t.Kind == Word && !t.Quoted {
			kind := DestUnknown
			switch t.Text {
			case "url":
				kind = DestURL
			case "disk":
				kind = DestDisk
			case "tape":
				kind = DestTape
			case "file":
				kind = DestFile
			case "with", "mirror", "encryption", "decryption", "force":
				return
			}
			if kind != DestUnknown && c.peekAt(1).IsPunct("=") {
				c.i += 2
				v := c.next()
				switch v.Kind {
				case String:
					b.Destinations = append(b.Destinations, Destination{Kind: kind, Value: v.Text, Declared: kind})
				case Var:
					b.Destinations = append(b.Destinations, Destination{Kind: DestUnknown, Value: v.Text, Declared: kind})
				default:
					b.Destinations = append(b.Destinations, Destination{Kind: DestUnknown, Declared: kind})
				}
			} else if kind != DestUnknown {
				// "TO DISK" cut before '=': unknown.
				c.next()
				b.Destinations = append(b.Destinations, Destination{Kind: DestUnknown, Declared: kind})
			} else {
				if isStatementStart(t.Text) {
					return
				}
				b.Destinations = append(b.Destinations, Destination{Kind: DestDevice, Value: c.name()})
			}
		} else if t.Kind == Word || t.Kind == String {
			c.next()
			b.Destinations = append(b.Destinations, Destination{Kind: DestDevice, Value: t.Text})
		} else if t.Kind == Var {
			c.next()
			b.Destinations = append(b.Destinations, Destination{Kind: DestUnknown, Value: t.Text})
		} else if !t.IsPunct(",") {
			return
		} else {
			c.next()
			continue
		}
		if !c.acceptPunct(",") {
			return
		}
	}
}

// options reads a flat WITH list. Nested FILE = in PRIVATE KEY (...) is
// a destination too.
func (b *Backup) options(c *cursor) {
	start := c.i
	end := c.i
	depth := 0
	for end < len(c.toks) {
		t := c.toks[end]
		if depth == 0 && t.IsPunct(";") {
			break
		}
		if t.IsPunct("(") {
			depth++
		} else if t.IsPunct(")") {
			depth--
		}
		// A statement keyword at top level right after a complete option
		// (no comma before it) starts the next statement.
		if depth == 0 && end > start && t.Kind == Word && !t.Quoted && isStatementStart(t.Text) &&
			!c.toks[end-1].IsPunct(",") && !c.toks[end-1].IsPunct("=") && t.Text != "set" {
			break
		}
		end++
	}
	c.i = end
	for _, part := range splitTop(c.toks[start:end]) {
		if len(part) == 0 {
			continue
		}
		if len(b.Options) >= maxOptions {
			// Keep the first and the last options: padding the list
			// must not push COPY_ONLY out of sight.
			b.Options = slices.Delete(b.Options, maxOptions/2, maxOptions/2+1)
		}
		o := parseOption(part)
		// ENCRYPTION BY PASSWORD = '...' must not keep the secret.
		if o.Name == "private" || o.Name == "encryption" || o.Name == "decryption" {
			o.Value = ""
			for i := range part {
				if part[i].Is("file") && i+2 < len(part) && part[i+1].IsPunct("=") {
					v := part[i+2]
					if v.Kind == String {
						b.Destinations = append(b.Destinations, Destination{Kind: DestFile, Value: v.Text, Declared: DestFile})
					} else {
						b.Destinations = append(b.Destinations, Destination{Kind: DestUnknown, Declared: DestFile, Value: v.Text})
					}
				}
				if part[i].Is("algorithm") && i+2 < len(part) && part[i+1].IsPunct("=") {
					o.Value = part[i+2].Text
				}
			}
			if o.Name == "private" {
				o.Name = "private key"
			}
		}
		b.Options = append(b.Options, o)
	}
}
