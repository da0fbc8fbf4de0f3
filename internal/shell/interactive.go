package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chzyer/readline"
)

// metaCommands are completed after a leading '.'.
var metaCommands = []string{
	".all", ".bail", ".connect", ".disconnect", ".echo", ".exit", ".features", ".headers",
	".help", ".mode", ".nullvalue", ".print", ".quit", ".schema", ".separator", ".show",
	".socket", ".summary", ".tables", ".timer", ".types", ".version", ".width",
}

// completer offers meta commands at the start of a line and table names
// (plus a few SQL keywords) for the word under the cursor.
type completer struct{ s *Shell }

func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	head := string(line[:pos])
	start := strings.LastIndexAny(head, " \t(,=") + 1
	word := head[start:]
	var candidates []string
	if start == 0 && strings.HasPrefix(word, ".") {
		candidates = metaCommands
	} else {
		candidates = c.s.Tables.Names()
	}
	var out [][]rune
	for _, cand := range candidates {
		if strings.HasPrefix(cand, word) {
			out = append(out, []rune(cand[len(word):]+" "))
		}
	}
	return out, len([]rune(word))
}

// HistoryPath is where osqueryi keeps its history: ~/.osquery/.history,
// falling back to a temp directory when the home is not writable.
func HistoryPath() string {
	home, err := os.UserHomeDir()
	if err == nil {
		dir := filepath.Join(home, ".osquery")
		if os.MkdirAll(dir, 0o700) == nil {
			return filepath.Join(dir, ".history")
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("osquery-%d.history", os.Getuid()))
}

func prompts() (string, string) {
	if strings.Contains(os.Getenv("TERM"), "xterm-256color") {
		return "\033[38;5;147mosquery> \033[0m", "\033[38;5;147m    ...> \033[0m"
	}
	return "osquery> ", "    ...> "
}

// Interactive runs the read-eval-print loop on a terminal: line editing,
// 100 lines of history, tab completion, statements over several lines.
func (s *Shell) Interactive(ctx context.Context) int {
	main, cont := prompts()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          main,
		HistoryFile:     HistoryPath(),
		HistoryLimit:    100,
		AutoComplete:    completer{s},
		InterruptPrompt: "^C",
		EOFPrompt:       "",
		Stdout:          s.Out,
		Stderr:          s.Err,
	})
	if err != nil {
		// Not a usable terminal after all: read it as a stream.
		return s.ProcessInput(ctx, os.Stdin)
	}
	defer rl.Close()
	var buf strings.Builder
	errCount, lineno, startLine := 0, 0, 0
	for {
		prompt := main
		if buf.Len() > 0 {
			prompt = cont
		}
		if s.connected != "" && buf.Len() == 0 {
			prompt = "[*] " + prompt
		}
		rl.SetPrompt(prompt)
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			// Ctrl-C abandons the statement being typed, not the shell.
			buf.Reset()
			continue
		}
		if errors.Is(err, io.EOF) || err != nil {
			fmt.Fprintln(s.Out)
			break
		}
		lineno++
		qctx, stop := interruptContext(ctx)
		code, done := s.feedLine(qctx, &buf, line, lineno, &startLine, func(msg string) {
			fmt.Fprintf(s.Err, "Error: %s\n", msg)
		}, &errCount)
		stop()
		if done {
			return code
		}
	}
	if errCount > 0 {
		return 1
	}
	return 0
}
