package detectcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sethvargo/go-envconfig"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/auditfile"
	"github.com/xelwatch/xelwatch/handler/internal/config"
	"github.com/xelwatch/xelwatch/handler/internal/progress"
	"github.com/xelwatch/xelwatch/xel"
	"github.com/xelwatch/xelwatch/xel/audit"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // some input could not be read (findings are still printed)
	exitUsage = 2
)

// maxFiles bounds how many files one scan walks.
const maxFiles = 100000

// Scan runs "scan [--format jsonl|table] [--rules-file FILE] PATH...".
func Scan(ctx context.Context, args []string, env envconfig.Lookuper, _ io.Reader, stdout, stderr io.Writer) int {
	return scan(ctx, args, stdout, stderr, env)
}

func scan(ctx context.Context, args []string, stdout, stderr io.Writer, env envconfig.Lookuper) int {
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "jsonl", "output format: jsonl (one finding per line) or table")
	rulesFile := fl.String("rules-file", "", "JSON rules file (default: $XELWATCH_RULES_FILE)")
	sigmaRules := fl.String("sigma", "", "Sigma rule files and folders, comma-separated (default: $XELWATCH_SIGMA_RULES)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: xelwatch scan [--format jsonl|table] [--rules-file FILE] [--sigma PATHS] PATH...\n\n"+
			"Decodes audit .xel files (folders are walked recursively) and prints the\n"+
			"detections the rule catalog finds. Allow-lists and thresholds come from the\n"+
			"XELWATCH_* environment variables (see docs/rules.md). Sigma rules (--sigma or\n"+
			"XELWATCH_SIGMA_RULES: files and folders of .yml rules, see docs/sigma.md) run\n"+
			"beside the catalog; a bad rule file is a configuration error.\n\n"+
			"Only regular files are read (a symbolic link to one is followed; links to\n"+
			"folders are not). A FIFO, device, socket, dangling link or link loop named\n"+
			"like an audit file is not opened: one line on stderr says what was skipped\n"+
			"and why. A damaged file is reported with its offset (its records before the\n"+
			"damage are scanned) and the scan goes on with the next file.\n\n"+
			"Exit status: 0 success; 1 when any file was damaged, unreadable or skipped\n"+
			"(the findings of the others are printed); 2 usage or configuration error;\n"+
			"130 on SIGINT, 143 on SIGTERM (the scan stops at once).\n\n"+
			"On a terminal, stderr shows a progress line (bytes, rate, time left);\n"+
			"XELWATCH_PROGRESS=auto|always|never (auto: only when stderr is a terminal\n"+
			"and stdout is not).\n\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *format != "jsonl" && *format != "table" {
		fmt.Fprintf(stderr, "scan: unknown --format %q (want jsonl or table)\n", *format)
		return exitUsage
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return exitUsage
	}
	if *rulesFile != "" {
		env = envconfig.MultiLookuper(envconfig.MapLookuper(map[string]string{"XELWATCH_RULES_FILE": *rulesFile}), env)
	}
	cfg, err := config.LoadDetect(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitUsage
	}
	eng, err := detect.New(cfg, detect.NewMemoryState())
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitUsage
	}
	pw, err := progress.Writer(env, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitUsage
	}
	tr := &progress.Files{M: progress.New(pw, progress.Options{Label: "scan", Noun: "records"})}
	defer tr.M.Done()
	if eng, err = withSigma(ctx, eng, *sigmaRules, env, stderr); err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitUsage
	}
	code := exitOK
	fail := func(err error) {
		tr.M.Done() // the message starts its own line; the meter redraws after it
		fmt.Fprintf(stderr, "scan: %v\n", err)
		code = exitError
	}
	files := collect(ctx, fl.Args(), fail)
	if tr.M != nil {
		var total int64
		for _, f := range files {
			if fi, err := os.Stat(f.path); err == nil && fi.Mode().IsRegular() {
				total += fi.Size()
			}
		}
		tr.M.SetTotal(total)
	}
	out := newPrinter(*format, stdout)
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		if err := scanFile(ctx, eng, f, out, tr); err != nil && ctx.Err() == nil {
			fail(err)
		}
	}
	tr.M.Done()
	if err := out.flush(); err != nil {
		fmt.Fprintf(stderr, "scan: write: %v\n", err)
		return exitError
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "scan: interrupted: %v\n", context.Cause(ctx))
		return exitError
	}
	return code
}

// input is one file to scan and the name its records carry: the path
// relative to the folder argument (like a blob name), or the base name of
// a file argument.
type input struct {
	path, name string
}

// collect lists the files to scan; folders are walked recursively by
// internal/auditfile, and what cannot be scanned goes to fail (a folder
// with too many files is reported and left out).
func collect(ctx context.Context, args []string, fail func(error)) []input {
	var out []input
	for _, a := range args {
		if ctx.Err() != nil {
			return nil
		}
		if st, err := os.Stat(a); err != nil || !st.IsDir() {
			out = append(out, input{path: a, name: filepath.Base(a)}) // opening it says what is wrong
			continue
		}
		if len(out) >= maxFiles {
			fail(fmt.Errorf("%s: more than %d audit files", a, maxFiles))
			continue
		}
		files, err := auditfile.Walk(ctx, a, auditfile.WalkOptions{Recursive: true, MaxFiles: maxFiles - len(out), Skip: fail})
		if err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("%s: %w", a, err))
			}
			continue
		}
		for _, f := range files {
			out = append(out, input{path: f.Path, name: f.Name})
		}
	}
	return out
}

func scanFile(ctx context.Context, eng *detect.Engine, in input, out *printer, tr *progress.Files) error {
	f, fi, err := auditfile.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	defer tr.Next(fi.Size())
	xr, err := xel.NewReader(f, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", in.path, err)
	}
	ar := audit.NewReader(xr, in.name, &audit.ReaderOptions{FlushIncomplete: true})
	var errs []error
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			tr.At(ar.End(), n)
		}
		rec, err := ar.Next()
		if err == io.EOF {
			tr.At(ar.End(), n)
			break
		}
		if err != nil {
			var fe *xel.FormatError
			if !errors.As(err, &fe) {
				err = fmt.Errorf("%w (at offset %d)", err, ar.End())
			}
			errs = append(errs, fmt.Errorf("%s: %w", in.path, err))
			break
		}
		fs, err := eng.Evaluate(ctx, rec)
		for _, fd := range fs {
			if werr := out.print(fd); werr != nil {
				return werr
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.path, err))
		}
	}
	return errors.Join(errs...)
}

type printer struct {
	format string
	enc    *json.Encoder
	tw     *tabwriter.Writer
	n      int
}

func newPrinter(format string, w io.Writer) *printer {
	p := &printer{format: format}
	if format == "table" {
		p.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	} else {
		p.enc = json.NewEncoder(w)
		p.enc.SetEscapeHTML(false)
	}
	return p
}

func (p *printer) print(f detect.Finding) error {
	p.n++
	if p.enc != nil {
		return p.enc.Encode(f)
	}
	if p.n == 1 {
		fmt.Fprintln(p.tw, "TIME\tSEVERITY\tRULE\tSERVER\tPRINCIPAL\tDETECTION\tWHY")
	}
	_, err := fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Time.Format("2006-01-02T15:04:05Z"), f.Severity, f.Rule,
		oneLine(f.Server, 30), oneLine(f.Principal, 30), f.DetectionID[:12], oneLine(f.Why, 160))
	return err
}

func (p *printer) flush() error {
	if p.tw != nil {
		if p.n == 0 {
			fmt.Fprintln(p.tw, "no findings")
		}
		return p.tw.Flush()
	}
	return nil
}

// oneLine keeps table cells on one line and bounded.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		for n > 0 && s[n]&0xC0 == 0x80 {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
