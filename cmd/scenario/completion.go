package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/scenario-tool/scenario/steps"
)

// Completion scripts are generated from the command table, so that a new
// command or flag completes without anyone editing a script.

// publicFlags lists a command's flags as completion offers them.
func publicFlags(c command) []*flag.Flag {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !hiddenFlags[f.Name] {
			out = append(out, f)
		}
	})
	return out
}

// takesValue: a bool flag stands alone, any other takes the next word.
func takesValue(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// formatsOf are the values of a command's --format.
func formatsOf(c command) string {
	if c.formats != "" {
		return c.formats
	}
	return "text json test2json"
}

// fileFlags take a path.
var fileFlags = map[string]bool{"consul": true, "logs": true, "junit": true, "expect": true}

// operandWords are the words a command's operands complete to, when they
// are words rather than files; help's are commands, topics and step types.
func operandWords(c command) []string {
	switch c.operands {
	case "", "files":
		return nil
	case "commands":
		var names []string
		for _, other := range commands() {
			names = append(names, other.name)
		}
		for _, t := range topics() {
			names = append(names, t.name)
		}
		return append(names, steps.Default().Names()...)
	}
	return strings.Fields(c.operands)
}

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "scenario completion: name one shell: bash, zsh or fish")
		return exitInvalid
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion())
	case "zsh":
		fmt.Fprint(stdout, zshCompletion())
	case "fish":
		fmt.Fprint(stdout, fishCompletion())
	default:
		fmt.Fprintf(stderr, "scenario completion: unknown shell %q; give bash, zsh or fish\n", args[0])
		return exitInvalid
	}
	return exitPassed
}

func bashCompletion() string {
	var b strings.Builder
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	b.WriteString("# bash completion for scenario: source <(scenario completion bash)\n")
	b.WriteString("_scenario() {\n")
	b.WriteString("    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("    if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(names, " ")+" --help --version")
	b.WriteString("        return\n    fi\n")
	b.WriteString("    local flags='' valued='' words='' files='' formats=''\n")
	b.WriteString("    case \"${COMP_WORDS[1]}\" in\n")
	for _, c := range commands() {
		var flags, valued []string
		for _, f := range publicFlags(c) {
			flags = append(flags, dashed(f.Name))
			if takesValue(f) {
				valued = append(valued, dashed(f.Name))
			}
		}
		flags = append(flags, "--help")
		files := ""
		if c.operands == "files" {
			files = "1"
		}
		fmt.Fprintf(&b, "    %s) flags=%q; valued=%q; words=%q; files=%q; formats=%q ;;\n", c.name,
			strings.Join(flags, " "), " "+strings.Join(valued, " ")+" ", strings.Join(operandWords(c), " "), files, formatsOf(c))
	}
	b.WriteString("    esac\n")
	b.WriteString(`    case "$valued" in
        *" $prev "*)
            if [ "$prev" = --format ]; then
                COMPREPLY=($(compgen -W "$formats" -- "$cur"))
            else
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return ;;
    esac
    case "$cur" in
        -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")); return ;;
    esac
    if [ -n "$words" ]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    elif [ -n "$files" ]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.y*ml' -- "$cur"))
    fi
}
complete -F _scenario scenario
`)
	return b.String()
}

// zshQuote quotes s for zsh inside single quotes, and the brackets and
// colons _arguments reads.
func zshQuote(s string) string {
	s = strings.ReplaceAll(s, "'", "'\\''")
	s = strings.NewReplacer("[", "\\[", "]", "\\]", ":", "\\:").Replace(s)
	return s
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString("#compdef scenario\n# zsh completion for scenario: source <(scenario completion zsh), after compinit\n")
	b.WriteString("_scenario() {\n    local -a commands\n    commands=(\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "        '%s:%s'\n", c.name, zshQuote(c.summary))
	}
	b.WriteString("    )\n    if (( CURRENT == 2 )); then\n        _describe -t commands 'scenario command' commands\n        _arguments '--help[show the help]' '--version[show the version]'\n        return\n    fi\n")
	b.WriteString("    local cmd=$words[2]\n    shift words\n    (( CURRENT-- ))\n    case $cmd in\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "    %s)\n        _arguments -s \\\n", c.name)
		for _, f := range publicFlags(c) {
			_, usage := flag.UnquoteUsage(f)
			spec := fmt.Sprintf("%s[%s]", dashed(f.Name), zshQuote(firstLine(usage)))
			if takesValue(f) {
				action := "_files"
				if f.Name == "format" {
					action = "(" + formatsOf(c) + ")"
				} else if !fileFlags[f.Name] {
					action = " "
				}
				spec += ":" + f.Name + ":" + action
			}
			fmt.Fprintf(&b, "            '%s' \\\n", spec)
		}
		b.WriteString("            '--help[show this command'\\''s help]' \\\n")
		switch {
		case c.operands == "files":
			b.WriteString("            '*:scenario file or folder:_files -g \"*.(yaml|yml)(-.)\"'\n")
		case len(operandWords(c)) > 0:
			fmt.Fprintf(&b, "            '1:argument:(%s)'\n", strings.Join(operandWords(c), " "))
		default:
			b.WriteString("\n")
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n}\n\nif [ \"$funcstack[1]\" = \"_scenario\" ]; then\n    _scenario \"$@\"\nelse\n    compdef _scenario scenario\nfi\n")
	return b.String()
}

// fishQuote quotes s for fish in single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# fish completion for scenario: scenario completion fish > ~/.config/fish/completions/scenario.fish\n")
	b.WriteString("complete -c scenario -f\n")
	b.WriteString("complete -c scenario -n __fish_use_subcommand -l help -d 'show the help'\n")
	b.WriteString("complete -c scenario -n __fish_use_subcommand -l version -d 'show the version'\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "complete -c scenario -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range commands() {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range publicFlags(c) {
			_, usage := flag.UnquoteUsage(f)
			long := "-l"
			if len(f.Name) == 1 {
				long = "-s"
			}
			line := fmt.Sprintf("complete -c scenario -n %s %s %s -d %s", cond, long, f.Name, fishQuote(firstLine(usage)))
			if takesValue(f) {
				switch {
				case f.Name == "format":
					line += " -x -a " + fishQuote(formatsOf(c))
				case fileFlags[f.Name]:
					line += " -r -F"
				default:
					line += " -x"
				}
			}
			b.WriteString(line + "\n")
		}
		fmt.Fprintf(&b, "complete -c scenario -n %s -l help -d %s\n", cond, fishQuote("show this command's help"))
		if words := operandWords(c); len(words) > 0 {
			sort.Strings(words)
			fmt.Fprintf(&b, "complete -c scenario -n %s -x -a %s\n", cond, fishQuote(strings.Join(words, " ")))
		} else if c.operands == "files" {
			fmt.Fprintf(&b, "complete -c scenario -n %s -F\n", cond)
		}
	}
	return b.String()
}
