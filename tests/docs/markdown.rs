//! Markdown as GitHub and rustdoc read it: blocks of prose, code blocks, links,
//! headings and tables, each with where it starts.

use std::collections::BTreeSet;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// What kind of block of prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    Heading,
    /// A list item's own text (a tight list has no paragraph inside its items).
    Item,
    /// A row of a table, header row included.
    Row,
}

/// A block of prose: its inline text with code spans kept in backticks, soft
/// line breaks as spaces, link texts without their targets.
#[derive(Debug, Clone)]
pub struct Block {
    pub kind: Kind,
    /// Byte offsets where it starts and ends in the source.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Describes code that has not landed (a `TODO(lead)` before or in it).
    pub exempt: bool,
    /// The table it belongs to (an index into `Parsed::tables`), for rows.
    pub table: Option<usize>,
}

/// A fenced or indented code block.
#[derive(Debug, Clone)]
pub struct CodeBlock {
    /// The first word of the info string (`rust` for "rust,no_run"), or "".
    pub lang: String,
    /// The whole info string.
    pub info: String,
    pub fenced: bool,
    /// Byte offsets of its first line (the fence) and its end.
    pub start: usize,
    pub end: usize,
    pub content: String,
    pub exempt: bool,
}

/// A link or image target.
#[derive(Debug, Clone)]
pub struct Link {
    pub target: String,
    pub start: usize,
    pub exempt: bool,
    /// The block of prose it sits in.
    block: Option<usize>,
}

/// A table: where it starts and ends.
#[derive(Debug, Clone)]
pub struct Table {
    pub start: usize,
    pub end: usize,
}

/// One Markdown file, parsed.
#[derive(Debug, Default)]
pub struct Parsed {
    pub blocks: Vec<Block>,
    pub code_blocks: Vec<CodeBlock>,
    pub links: Vec<Link>,
    pub tables: Vec<Table>,
    /// The anchors a link can jump to: heading slugs as GitHub makes them,
    /// and `id`/`name` attributes of HTML elements.
    pub anchors: BTreeSet<String>,
    /// Where the `TODO(lead)` and `new:` comments themselves are.
    pub markers: Vec<(usize, usize)>,
}

/// The options GitHub's Markdown (and rustdoc's) needs here.
fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES
}

/// A comment that exempts the next block from the checks of names and paths:
/// `<!-- TODO(lead): ... -->` (code that has not landed yet) or
/// `<!-- new: ... -->` (code the reader is asked to write).
fn is_todo(html: &str) -> bool {
    html.split("<!--").skip(1).any(|comment| {
        let comment = comment.trim_start();
        comment.starts_with("TODO(lead)") || comment.starts_with("new:")
    })
}

/// The `id="..."` and `name="..."` values of HTML in a text.
fn html_ids(html: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for attribute in [" id=\"", " name=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            if let Some(end) = rest.find('"') {
                ids.push(rest[..end].to_owned());
            }
        }
    }
    ids
}

/// The anchor GitHub gives a heading: lower case, punctuation other than `-`
/// and `_` dropped, each space a `-`.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    // Open blocks of prose (indices into `parsed.blocks`), innermost last.
    let mut open: Vec<usize> = Vec::new();
    // Block-level nesting depth, and the depth at which a TODO(lead) exempts
    // the next block (with everything inside it) or is exempting one now.
    let mut depth = 0usize;
    let mut todo_next: Option<usize> = None;
    let mut exempt_from: Option<usize> = None;
    let mut code: Option<CodeBlock> = None;
    let mut heading_text: Option<String> = None;
    let mut table: Option<usize> = None;
    let mut slugs_seen: Vec<String> = Vec::new();
    let mut html_block: Option<(usize, usize)> = None;

    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                let block_level = !matches!(
                    tag,
                    Tag::Emphasis
                        | Tag::Strong
                        | Tag::Strikethrough
                        | Tag::Link { .. }
                        | Tag::Image { .. }
                        | Tag::TableCell
                        | Tag::Superscript
                        | Tag::Subscript
                );
                if block_level {
                    if !matches!(tag, Tag::HtmlBlock) && todo_next == Some(depth) {
                        exempt_from = Some(depth);
                        todo_next = None;
                    }
                    depth += 1;
                }
                let exempt = exempt_from.is_some();
                let new_block = |kind| Block {
                    kind,
                    start: range.start,
                    end: range.end,
                    text: String::new(),
                    exempt,
                    table,
                };
                match tag {
                    Tag::Paragraph => {
                        parsed.blocks.push(new_block(Kind::Paragraph));
                        open.push(parsed.blocks.len() - 1);
                    }
                    Tag::Heading { .. } => {
                        parsed.blocks.push(new_block(Kind::Heading));
                        open.push(parsed.blocks.len() - 1);
                        heading_text = Some(String::new());
                    }
                    Tag::Item => {
                        parsed.blocks.push(new_block(Kind::Item));
                        open.push(parsed.blocks.len() - 1);
                    }
                    Tag::HtmlBlock => html_block = Some((range.start, range.end)),
                    Tag::Table(_) => {
                        parsed.tables.push(Table {
                            start: range.start,
                            end: range.end,
                        });
                        table = Some(parsed.tables.len() - 1);
                    }
                    Tag::TableHead | Tag::TableRow => {
                        let mut block = new_block(Kind::Row);
                        block.table = table;
                        block.text.push('|');
                        parsed.blocks.push(block);
                        open.push(parsed.blocks.len() - 1);
                    }
                    Tag::TableCell => {
                        if let Some(&index) = open.last() {
                            parsed.blocks[index].text.push(' ');
                        }
                    }
                    Tag::CodeBlock(kind) => {
                        let (info, fenced) = match kind {
                            CodeBlockKind::Fenced(info) => (info.to_string(), true),
                            CodeBlockKind::Indented => (String::new(), false),
                        };
                        let lang = info
                            .split(|c: char| c == ',' || c.is_whitespace())
                            .next()
                            .unwrap_or("")
                            .to_owned();
                        // ```rust new: code the reader writes, not in the repository.
                        let new = info.split_whitespace().any(|word| word == "new");
                        code = Some(CodeBlock {
                            lang,
                            exempt: exempt || new,
                            info,
                            fenced,
                            start: range.start,
                            end: range.end,
                            content: String::new(),
                        });
                    }
                    Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                        parsed.links.push(Link {
                            target: dest_url.to_string(),
                            start: range.start,
                            exempt,
                            block: open.last().copied(),
                        });
                    }
                    _ => {}
                }
            }
            Event::End(tag) => {
                let block_level = !matches!(
                    tag,
                    TagEnd::Emphasis
                        | TagEnd::Strong
                        | TagEnd::Strikethrough
                        | TagEnd::Link
                        | TagEnd::Image
                        | TagEnd::TableCell
                        | TagEnd::Superscript
                        | TagEnd::Subscript
                );
                match tag {
                    TagEnd::Paragraph | TagEnd::Item | TagEnd::TableHead | TagEnd::TableRow => {
                        if let Some(index) = open.pop()
                            && parsed.blocks[index].kind == Kind::Row
                        {
                            parsed.blocks[index].text.push_str(" |");
                        }
                    }
                    TagEnd::Heading(_) => {
                        open.pop();
                        let heading = heading_text.take().unwrap_or_default();
                        let base = slug(&heading);
                        let count = slugs_seen.iter().filter(|s| **s == base).count();
                        let anchor = if count == 0 {
                            base.clone()
                        } else {
                            format!("{base}-{count}")
                        };
                        slugs_seen.push(base);
                        parsed.anchors.insert(anchor);
                    }
                    TagEnd::Table => table = None,
                    TagEnd::TableCell => {
                        if let Some(&index) = open.last() {
                            parsed.blocks[index].text.push_str(" |");
                        }
                    }
                    TagEnd::CodeBlock => {
                        if let Some(block) = code.take() {
                            parsed.code_blocks.push(block);
                        }
                    }
                    _ => {}
                }
                if block_level {
                    depth = depth.saturating_sub(1);
                    if exempt_from == Some(depth) {
                        exempt_from = None;
                    }
                    // A TODO at the end of a container applies to nothing after it.
                    if todo_next.is_some_and(|d| depth < d) {
                        todo_next = None;
                    }
                }
            }
            Event::Text(text) => {
                if let Some(block) = &mut code {
                    block.content.push_str(&text);
                    continue;
                }
                if let Some(heading) = &mut heading_text {
                    heading.push_str(&text);
                }
                if let Some(&index) = open.last() {
                    parsed.blocks[index].text.push_str(&text);
                }
            }
            Event::Code(text) => {
                if let Some(heading) = &mut heading_text {
                    heading.push_str(&text);
                }
                if let Some(&index) = open.last() {
                    let block = &mut parsed.blocks[index];
                    block.text.push('`');
                    block.text.push_str(&text);
                    block.text.push('`');
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(&index) = open.last() {
                    parsed.blocks[index].text.push(' ');
                }
            }
            Event::Html(html) => {
                parsed.anchors.extend(html_ids(&html));
                if is_todo(&html) {
                    parsed
                        .markers
                        .push(html_block.unwrap_or((range.start, range.end)));
                    // An HTML block sits at depth + 1 while open: the TODO
                    // applies to the next block at the HTML block's own depth.
                    todo_next = Some(depth.saturating_sub(1));
                }
            }
            Event::InlineHtml(html) => {
                parsed.anchors.extend(html_ids(&html));
                if is_todo(&html) {
                    parsed.markers.push((range.start, range.end));
                }
                if is_todo(&html)
                    && let Some(&index) = open.last()
                {
                    parsed.blocks[index].exempt = true;
                }
            }
            _ => {}
        }
    }
    // A TODO inside a block exempts the links it holds.
    for link in &mut parsed.links {
        if let Some(index) = link.block {
            link.exempt |= parsed.blocks[index].exempt;
        }
    }
    parsed
}

impl Parsed {
    /// Whether the byte offset lies in a block or code block a `TODO(lead)` exempts.
    pub fn is_exempt(&self, offset: usize) -> bool {
        self.blocks
            .iter()
            .filter(|block| block.exempt)
            .map(|block| (block.start, block.end))
            .chain(
                self.code_blocks
                    .iter()
                    .filter(|block| block.exempt)
                    .map(|block| (block.start, block.end)),
            )
            .chain(self.markers.iter().copied())
            .any(|(start, end)| (start..end).contains(&offset))
    }
}
