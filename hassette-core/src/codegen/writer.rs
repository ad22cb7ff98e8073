//! An indenting line writer whose output rustfmt leaves as it is.

/// Lines with four-space indentation; blank lines only between items, never after `{` or
/// before `}`.
#[derive(Debug, Default)]
pub(super) struct Writer {
    out: String,
    indent: usize,
    pending_blank: bool,
    just_opened: bool,
}

impl Writer {
    pub(super) fn line(&mut self, text: &str) {
        if self.pending_blank && !self.just_opened && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.pending_blank = false;
        self.just_opened = false;
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// A blank line before the next item, if one follows in this block.
    pub(super) fn blank(&mut self) {
        self.pending_blank = true;
    }

    /// `text` (ending in `{`), then indent.
    pub(super) fn open(&mut self, text: &str) {
        self.line(text);
        self.indent += 1;
        self.just_opened = true;
    }

    /// Unindent, then `text` (`}` or `};`).
    pub(super) fn close_with(&mut self, text: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.pending_blank = false;
        self.just_opened = false;
        self.line(text);
    }

    /// Indent after a line that ended a multi-line signature with `{`.
    pub(super) fn open_body(&mut self) {
        self.indent += 1;
        self.just_opened = true;
    }

    pub(super) fn close(&mut self) {
        if self.just_opened && self.out.ends_with("{\n") {
            // An empty block: `impl Call {}`, as rustfmt writes it.
            self.out.pop();
            self.out.push_str("}\n");
            self.indent = self.indent.saturating_sub(1);
            self.just_opened = false;
            self.pending_blank = false;
            return;
        }
        self.close_with("}");
    }

    /// `let NAME = CALLEE(ARGS);` laid out as rustfmt does: on one line; else with the call
    /// on the next line; else one argument per line (also when the arguments are wider than
    /// rustfmt's 60 columns for calls).
    pub(super) fn let_call(&mut self, name: &str, callee: &str, args: &[String]) {
        let joined = args.join(", ");
        let call = format!("{callee}({joined})");
        let one = format!("let {name} = {call};");
        if joined.len() <= 60 && self.width() + one.len() <= 100 {
            self.line(&one);
        } else if joined.len() <= 60 && self.width() + 4 + call.len() < 100 {
            self.line(&format!("let {name} ="));
            self.indented(&format!("{call};"));
        } else {
            self.open(&format!("let {name} = {callee}("));
            for a in args {
                self.line(&format!("{a},"));
            }
            self.close_with(");");
        }
    }

    /// A doc comment, one `///` line per line of `text` (blank lines kept as `///`).
    pub(super) fn doc(&mut self, text: &str) {
        for line in text.trim().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {line}"));
            }
        }
    }

    /// A continuation line, one level deeper than the current one.
    pub(super) fn indented(&mut self, text: &str) {
        self.indent += 1;
        self.line(text);
        self.indent -= 1;
    }

    /// The current indentation in columns.
    pub(super) fn width(&self) -> usize {
        self.indent * 4
    }

    pub(super) fn finish(self) -> String {
        self.out
    }
}
