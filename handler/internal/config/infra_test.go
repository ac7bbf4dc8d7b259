package config_test

import (
	"bufio"
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/config"
)

// configOnly are settings the config reads that main.bicep deliberately does
// not set. Each needs a reason.
var configOnly = map[string]string{
	// Set by the Functions host for the custom handler process.
	"FUNCTIONS_CUSTOMHANDLER_PORT": "host-provided",
	// Connection strings carry account keys: local runs / Azurite only. In
	// Azure the identity-based AzureWebJobsStorage__* settings are used.
	"AzureWebJobsStorage": "connection string, local only",
	// Same for the audit account (AuditStorage__* in Azure).
	"AuditStorage": "connection string, local only",
}

// bicepOnly are settings in the xelwatch-settings block that the config does
// not read. Platform settings (APPLICATIONINSIGHTS_*, FUNCTIONS_*,
// WEBSITE_*) live outside the block, in modules/functionapp.bicep, and are
// not listed here. Empty on purpose: the block is for the binary's settings.
var bicepOnly = map[string]string{}

// setting is one environment variable the config reads.
type setting struct {
	Name    string
	Default string // the default= option, "" when none
	Type    reflect.Type
}

var (
	decoderType = reflect.TypeFor[envconfig.Decoder]()
	textType    = reflect.TypeFor[encoding.TextUnmarshaler]()
	binaryType  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// isLeaf reports whether go-envconfig decodes t itself instead of walking
// into it as a nested struct.
func isLeaf(t reflect.Type) bool {
	for _, it := range []reflect.Type{decoderType, textType, binaryType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// envSettings collects the env tags reachable from t the way go-envconfig
// resolves them: nested and embedded structs (exported or not) are walked, a
// struct field's prefix= option is prepended to the names below it,
// unexported leaf fields are skipped.
func envSettings(t reflect.Type, prefix string) ([]setting, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	var out []setting
	for f := range t.Fields() {
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		tag, tagged := f.Tag.Lookup("env")
		name, opts, _ := strings.Cut(tag, ",")
		name = strings.TrimSpace(name)
		var def, pfx string
		if opts != "" {
			// default= is always the last option and may contain commas.
			for opt := range strings.SplitSeq(opts, ",") {
				opt = strings.TrimSpace(opt)
				switch {
				case strings.HasPrefix(opt, "prefix="):
					pfx = strings.TrimPrefix(opt, "prefix=")
				}
			}
			if _, d, ok := strings.Cut(opts, "default="); ok {
				def = d
			}
		}
		if name == "-" {
			continue
		}
		nested := ft.Kind() == reflect.Struct && !isLeaf(ft) && name == ""
		// go-envconfig skips unexported fields, but a config struct held in
		// one may still be read from the same environment by a loader of
		// its own; walking it keeps such settings visible. Unexported
		// leaves are never read.
		if !f.IsExported() && !nested {
			continue
		}
		if nested {
			nested, err := envSettings(ft, prefix+pfx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			out = append(out, nested...)
			continue
		}
		if !tagged || name == "" {
			continue
		}
		out = append(out, setting{Name: prefix + name, Default: def, Type: f.Type})
	}
	return out, nil
}

// bicepEntry is one `NAME: value` line of the settings block.
type bicepEntry struct {
	Name  string
	Value string
	Line  int
}

const (
	beginMarker = "// BEGIN xelwatch-settings"
	endMarker   = "// END xelwatch-settings"
)

// entryRE matches a top-level entry of `var xelwatchSettings = {`: two spaces
// of indent, a key (identifier or quoted), a colon, the value to the end of
// the line. main.bicep keeps one entry per line inside the markers.
var entryRE = regexp.MustCompile(`^  ([A-Za-z_][A-Za-z0-9_]*|'[^']+'): (.+)$`)

// parseSettingsBlock returns the entries between the markers.
func parseSettingsBlock(src string) ([]bicepEntry, error) {
	var (
		out    []bicepEntry
		inside bool
		seen   bool
		done   bool
	)
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch strings.TrimSpace(line) {
		case beginMarker:
			if seen {
				return nil, fmt.Errorf("line %d: second %q", n, beginMarker)
			}
			inside, seen = true, true
			continue
		case endMarker:
			if !inside {
				return nil, fmt.Errorf("line %d: %q before %q", n, endMarker, beginMarker)
			}
			inside, done = false, true
			continue
		}
		if !inside {
			continue
		}
		m := entryRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		out = append(out, bicepEntry{Name: strings.Trim(m[1], "'"), Value: strings.TrimSpace(m[2]), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !seen || !done {
		return nil, fmt.Errorf("markers %q / %q not found", beginMarker, endMarker)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no entries between the markers")
	}
	return out, nil
}

// paramDefaults returns `param NAME TYPE = 'text'|number|bool` defaults.
func paramDefaults(src string) map[string]string {
	re := regexp.MustCompile(`(?m)^param ([A-Za-z_][A-Za-z0-9_]*) [a-z]+ = ('(?:[^'\\]|\\.)*'|-?[0-9]+|true|false)\s*$`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		out[m[1]] = strings.Trim(m[2], "'")
	}
	return out
}

// paramRef extracts the parameter a setting's value is taken from:
// `name` or `string(name)`.
var paramRefRE = regexp.MustCompile(`^(?:string\()?([A-Za-z_][A-Za-z0-9_]*)\)?$`)

// repoRoot is the repository, from this package's folder.
const repoRoot = "../../.."

func readMainBicep(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "infra", "main.bicep"))
	if err != nil {
		t.Fatalf("read main.bicep: %v", err)
	}
	return string(b)
}

func configSettings(t *testing.T) []setting {
	t.Helper()
	got, err := envSettings(reflect.TypeFor[config.Config](), "")
	if err != nil {
		t.Fatalf("envSettings(config.Config): %v", err)
	}
	if len(got) == 0 {
		t.Fatal("envSettings(config.Config): no env tags found")
	}
	return got
}

func TestNoDrift(t *testing.T) {
	src := readMainBicep(t)
	entries, err := parseSettingsBlock(src)
	if err != nil {
		t.Fatalf("main.bicep settings block: %v", err)
	}
	inBicep := map[string]bicepEntry{}
	for _, e := range entries {
		if prev, dup := inBicep[e.Name]; dup {
			t.Errorf("main.bicep:%d: %s already set on line %d", e.Line, e.Name, prev.Line)
		}
		inBicep[e.Name] = e
	}
	read := map[string]setting{}
	for _, s := range configSettings(t) {
		read[s.Name] = s
	}

	t.Run("config settings are set in Bicep", func(t *testing.T) {
		for _, name := range sortedKeys(read) {
			_, set := inBicep[name]
			_, excepted := configOnly[name]
			switch {
			case set && excepted:
				t.Errorf("%s is in configOnly but main.bicep sets it: drop the exception", name)
			case !set && !excepted:
				t.Errorf("config reads %s but main.bicep's xelwatch-settings block does not set it (or add it to configOnly with a reason)", name)
			}
		}
	})
	t.Run("Bicep settings are read by the config", func(t *testing.T) {
		for _, name := range sortedKeys(inBicep) {
			_, isRead := read[name]
			_, excepted := bicepOnly[name]
			if !isRead && !excepted {
				t.Errorf("main.bicep:%d sets %s but handler/internal/config.Config does not read it", inBicep[name].Line, name)
			}
		}
	})
	t.Run("exceptions are still needed", func(t *testing.T) {
		for name := range configOnly {
			if _, ok := read[name]; !ok {
				t.Errorf("configOnly lists %s, which the config no longer reads", name)
			}
		}
	})
	t.Run("secrets are Key Vault references", func(t *testing.T) {
		checked := 0
		for _, name := range sortedKeys(read) {
			e, set := inBicep[name]
			if !set || !isSecret(read[name].Type) {
				continue
			}
			checked++
			if !strings.Contains(e.Value, "@Microsoft.KeyVault(SecretUri=") {
				t.Errorf("main.bicep:%d: %s is a secret (%s) but its value is not a Key Vault reference: %s", e.Line, name, read[name].Type, e.Value)
			}
		}
		if checked == 0 {
			t.Error("no secret setting found in both the config and main.bicep: the secret detection is broken")
		}
	})
	t.Run("Bicep defaults equal config defaults", func(t *testing.T) {
		defaults := paramDefaults(src)
		checked := 0
		for _, name := range sortedKeys(inBicep) {
			e := inBicep[name]
			s, ok := read[name]
			if !ok || s.Default == "" {
				continue
			}
			m := paramRefRE.FindStringSubmatch(e.Value)
			if m == nil {
				continue
			}
			got, ok := defaults[m[1]]
			if !ok {
				t.Errorf("main.bicep:%d: %s comes from param %s, which has no literal default", e.Line, name, m[1])
				continue
			}
			checked++
			if got != s.Default {
				t.Errorf("%s: main.bicep param %s defaults to %q, config to %q", name, m[1], got, s.Default)
			}
		}
		if checked == 0 {
			t.Error("no default was compared: the parameter parsing is broken")
		}
	})
}

// isSecret reports whether a config field holds a secret: a type named
// Secret (config/redact, ...) or one with a Reveal method.
func isSecret(t reflect.Type) bool {
	if t.Name() == "Secret" {
		return true
	}
	_, ok := t.MethodByName("Reveal")
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The walker must resolve names the way go-envconfig does.
type leafText struct{ v string }

func (l *leafText) UnmarshalText(b []byte) error { l.v = string(b); return nil }

type inner struct {
	A string `env:"A,default=x,y"`
	B int    `env:"B"`
}

type Embedded struct {
	E string `env:"E"`
}

type sample struct {
	Embedded
	Top    string   `env:"TOP, required"`
	In     inner    `env:",prefix=IN_"`
	Plain  inner    // walked without a prefix
	Ptr    *inner   `env:", prefix=P_"`
	Leaf   leafText `env:"LEAF"`
	NoTag  string
	Skip   string `env:"-"`
	hidden string `env:"HIDDEN"`
	loaded inner  `env:",prefix=U_"` // filled by its own loader
}

func TestEnvSettings(t *testing.T) {
	_ = sample{}.hidden
	_ = sample{}.loaded
	got, err := envSettings(reflect.TypeFor[sample](), "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name+"="+s.Default)
	}
	want := []string{"E=", "TOP=", "IN_A=x,y", "IN_B=", "A=x,y", "B=", "P_A=x,y", "P_B=", "LEAF=", "U_A=x,y", "U_B="}
	if !slices.Equal(names, want) {
		t.Errorf("envSettings(sample)\n got %q\nwant %q", names, want)
	}
	if _, err := envSettings(reflect.TypeFor[int](), ""); err == nil {
		t.Error("envSettings(int): no error")
	}
}

func TestParseSettingsBlock(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		wantErr bool
	}{
		{
			name: "entries between markers",
			src: "var x = {\n  OUTSIDE: 'no'\n}\n" + beginMarker + "\nvar s = {\n" +
				"  A__b: foo.outputs.x\n  'QUOTED': 'v'\n    NESTED: 'deeper indent'\n  C: cond ? '@x' : ''\n}\n" + endMarker + "\n",
			want: []string{"A__b@6", "QUOTED@7", "C@9"},
		},
		{name: "no markers", src: "var s = {\n  A: 'x'\n}\n", wantErr: true},
		{name: "unterminated", src: beginMarker + "\n  A: 'x'\n", wantErr: true},
		{name: "empty block", src: beginMarker + "\n" + endMarker + "\n", wantErr: true},
		{name: "two blocks", src: beginMarker + "\n  A: 1\n" + endMarker + "\n" + beginMarker + "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSettingsBlock(tt.src)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseSettingsBlock: got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, fmt.Sprintf("%s@%d", e.Name, e.Line))
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("got %q, want %q", names, tt.want)
			}
		})
	}
}

func TestParamDefaults(t *testing.T) {
	src := "param a string = 'x y'\nparam n int = 268435456\n@description('d')\nparam b bool = false\nparam c string\nparam d string = resourceGroup().location\n"
	got := paramDefaults(src)
	want := map[string]string{"a": "x y", "n": "268435456", "b": "false"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("param %s: got %q, want %q", k, got[k], v)
		}
	}
}

// binding is the part of a function.json binding the host resolves from app
// settings.
type binding struct {
	Type       string `json:"type"`
	Direction  string `json:"direction"`
	Path       string `json:"path"`
	QueueName  string `json:"queueName"`
	Schedule   string `json:"schedule"`
	Connection string `json:"connection"`
}

var percentRE = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// TestFunctionBindingsResolve checks what the Functions host needs from the
// app settings before it can index the functions: every %NAME% in a
// function.json is an app setting main.bicep sets to a non-empty value, and
// every connection is configured identity-based (blob trigger: blob and
// queue service URIs; queues: queue service URI).
func TestFunctionBindingsResolve(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no functions/*/function.json in this tree")
	}
	entries, err := parseSettingsBlock(readMainBicep(t))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, e := range entries {
		set[e.Name] = e.Value
	}
	for _, f := range files {
		fn := filepath.Base(filepath.Dir(f))
		t.Run(fn, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Bindings []binding `json:"bindings"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, bd := range doc.Bindings {
				for _, field := range []string{bd.Path, bd.QueueName, bd.Schedule, bd.Connection} {
					for _, m := range percentRE.FindAllStringSubmatch(field, -1) {
						v, ok := set[m[1]]
						if !ok || v == "''" {
							t.Errorf("%s: %s binding uses %%%s%% but main.bicep does not set it", fn, bd.Type, m[1])
						}
					}
				}
				conn := bd.Connection
				if conn == "" {
					conn = "AzureWebJobsStorage"
				}
				var need []string
				switch bd.Type {
				case "blobTrigger":
					need = []string{"__blobServiceUri", "__queueServiceUri", "__credential", "__clientId"}
				case "blob":
					need = []string{"__blobServiceUri", "__credential", "__clientId"}
				case "queue", "queueTrigger":
					need = []string{"__queueServiceUri", "__credential", "__clientId"}
				case "table":
					need = []string{"__tableServiceUri", "__credential", "__clientId"}
				}
				for _, suffix := range need {
					if _, ok := set[conn+suffix]; !ok {
						t.Errorf("%s: %s binding on connection %s needs %s%s in main.bicep", fn, bd.Type, conn, conn, suffix)
					}
				}
			}
		})
	}
}

// TestControlOperationsFilter: the Event Grid subscription deploy.sh
// creates for AuditControl filters data.operationName on exactly the
// operations the platform rules watch (a missing one would be silently
// never delivered), and StringIn takes at most 25 values.
func TestControlOperationsFilter(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "infra", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	start := strings.Index(src, "CONTROL_OPERATIONS=(\n")
	if start < 0 {
		t.Fatal("deploy.sh: no CONTROL_OPERATIONS=( list")
	}
	body, _, ok := strings.Cut(src[start+len("CONTROL_OPERATIONS=(\n"):], "\n)")
	if !ok {
		t.Fatal("deploy.sh: CONTROL_OPERATIONS not closed")
	}
	var got []string
	for l := range strings.Lines(body) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	want := detect.OperationNames()
	if !slices.Equal(got, want) {
		t.Errorf("deploy.sh CONTROL_OPERATIONS = %q,\nwant detect.OperationNames() %q", got, want)
	}
	if len(got) > 25 {
		t.Errorf("%d operations: an advanced filter's StringIn takes at most 25", len(got))
	}
}
