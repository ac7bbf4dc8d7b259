package sigmarules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xelwatch/xelwatch/detect/sigma"
	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
)

// Bounds of one Load.
const (
	MaxTotalBytes = 16 << 20 // bytes of all rule files
	MaxDepth      = 8        // folder levels below a folder argument
	maxEntries    = 100000   // folder entries looked at
	maxErrors     = 20       // bad files reported (the rest are counted)
)

// Rules is what Load found.
type Rules struct {
	Rules   []*sigma.Rule
	Skipped []string // one line per rule left out, with the reason
}

// file is one rule file and its stable name: the path relative to its
// folder argument (slash-separated), or the base name of a file argument.
type file struct{ path, name string }

// Load reads the rules of paths (files and folders). An empty list gives
// no rules. Every problem is reported, each naming its file.
func Load(ctx context.Context, paths []string) (*Rules, error) {
	var files []file
	var errs []error
	entries := 0
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.IsDir() {
			files = append(files, file{path: p, name: filepath.Base(p)})
			continue
		}
		if err := walk(ctx, p, "", 0, &files, &entries); err != nil {
			errs = append(errs, err)
		}
	}
	if len(files) > sigma.MaxRules {
		return nil, fmt.Errorf("sigma rules: %d rule files, more than %d", len(files), sigma.MaxRules)
	}
	out := &Rules{}
	total := 0
	bad := 0
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := read(f.path)
		if err != nil {
			bad++
			if bad <= maxErrors {
				errs = append(errs, err)
			}
			continue
		}
		total += len(src)
		if total > MaxTotalBytes {
			return nil, fmt.Errorf("sigma rules: more than %d bytes of rule files", MaxTotalBytes)
		}
		r, err := sigma.Parse(f.name, src)
		var skip *sigma.SkipError
		switch {
		case errors.As(err, &skip):
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: %s", f.path, skip.Reason))
		case err != nil:
			bad++
			if bad <= maxErrors {
				// Parse names the rule by f.name; say the path instead.
				if inner := errors.Unwrap(err); inner != nil {
					err = inner
				}
				errs = append(errs, fmt.Errorf("%s: %w", f.path, err))
			}
		default:
			out.Rules = append(out.Rules, r)
		}
	}
	if bad > maxErrors {
		errs = append(errs, fmt.Errorf("and %d more bad rule files", bad-maxErrors))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sigma rules: %w", errors.Join(errs...))
	}
	if _, err := sigma.NewSet(out.Rules, sigma.Options{}); err != nil { // duplicate ids
		return nil, fmt.Errorf("sigma rules: %w", err)
	}
	return out, nil
}

// IsRuleName reports whether a folder entry is read as a rule file.
func IsRuleName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".yml" || ext == ".yaml") && !strings.HasPrefix(name, ".")
}

// walk lists the rule files under dir (rel: its path below the folder
// argument) in name order. Symbolic links to files are followed, to
// folders not; hidden folders are left out.
func walk(ctx context.Context, dir, rel string, depth int, out *[]file, entries *int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth > MaxDepth {
		return fmt.Errorf("%s: folders nested more than %d deep", dir, MaxDepth)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	*entries += len(des)
	if *entries > maxEntries {
		return fmt.Errorf("%s: more than %d folder entries", dir, maxEntries)
	}
	slices.SortFunc(des, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		r := de.Name()
		if rel != "" {
			r = rel + "/" + de.Name()
		}
		switch {
		case de.IsDir():
			if strings.HasPrefix(de.Name(), ".") {
				continue
			}
			if err := walk(ctx, p, r, depth+1, out, entries); err != nil {
				return err
			}
		case IsRuleName(de.Name()):
			if len(*out) >= sigma.MaxRules {
				return fmt.Errorf("%s: more than %d rule files", dir, sigma.MaxRules)
			}
			*out = append(*out, file{path: p, name: r})
		}
	}
	return nil
}

// read reads a regular file (never blocking on a FIFO or device) of at
// most sigma.MaxRuleBytes.
func read(p string) ([]byte, error) {
	f, _, err := auditfile.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, sigma.MaxRuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", p, err)
	}
	if len(b) > sigma.MaxRuleBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, sigma.MaxRuleBytes)
	}
	return b, nil
}
