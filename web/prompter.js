// The term prompter's core, for the interpreter console (console.js): glossary terms and
// numbers heard on the floor, and their counterparts in the booth's language.
//
// Pure: no DOM, no clock, no network. The console hands it captions and renders what it
// returns; tests/prompter.test.js runs it under Node. A plain script, no build step: it
// defines the global `Prompter` (and `module.exports` under Node).
//
//   const p = Prompter.create(glossaryRows);          // rows {ko, en, note}
//   p.hear({source, utterance, text, final}, "en")    // → new items, in spoken order
//   // item: {key, kind: "term" | "number", shown, heard, note}
//
// Terms: each row's Korean form is matched inside words (particles attach: "KoSEA가"),
// spaces optional ("사회적 경제"); its English form as whole words, any case, with a
// plural "s" and British or American spelling ("organisation", "organization"). Longer
// terms win over the terms they contain (사회연대경제 over 연대경제). An acronym row (an
// English-only abbreviation: "KoSEA", "ILO") is tied to its full name: the row whose
// note says "acronym of <name>", else the neighbouring row whose initials it spells
// (KoSEA: Korea Social Enterprise Promotion Agency). Either one heard shows the full
// name in the booth's language with the acronym: "Korea Social Enterprise Promotion
// Agency (KoSEA)".
//
// Numbers: digits ("3,000", "1.5"), with Korean scale words (3천, 1억 2천만, 2만5천),
// English ones (1.5 million, three thousand, a hundred), Korean number words before a
// unit (삼천 명), a currency sign ($3 million) and the unit that follows (명, 개국, %,
// 퍼센트, people, percent …). Shown as digits with the unit in the booth's language, and
// read the booth's way: 30,000,000 is "3,000만" for a Korean booth and "30 million" for
// an English one, since regrouping 만 and thousands is where interpreters slip.
//
// Each item is shown once per utterance (partials repeat the words until they are
// final). What may still grow waits for the next words or the final: a number at the
// very end of a partial ("3" may yet become "3천 명"), a term that may become a longer
// one ("한국" in "…한국사회적" may be 한국사회적기업진흥원).
(function (root) {
  "use strict";

  const KEEP_UTTERANCES = 32;

  // ------------------------------------------------------------------ the glossary
  const HANGUL = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]/;
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const clean = (s) => (typeof s === "string" ? s.trim() : "");

  function isAcronym(row) {
    const capitals = row.en.replace(/[^A-Z]/g, "").length;
    return /^[A-Z][A-Za-z]{1,11}$/.test(row.en) && capitals >= 2 && (!row.ko || row.ko === row.en);
  }

  function initials(name) {
    return name
      .split(/[\s\-–/]+/)
      .filter((w) => /^[A-Za-z]/.test(w))
      .map((w) => w[0].toUpperCase());
  }

  // Does `acronym` spell `name`? Its capitals, in order, are initials of the name's
  // words, the first and the last included (KoSEA: K·S·E·A of K·S·E·P·A).
  function spells(acronym, name) {
    const capitals = acronym.replace(/[^A-Z]/g, "");
    const heads = initials(name);
    if (capitals.length < 2 || !heads.length) return false;
    if (capitals[0] !== heads[0] || capitals.at(-1) !== heads.at(-1)) return false;
    let at = 0;
    for (const c of capitals) {
      while (at < heads.length && heads[at] !== c) at += 1;
      if (at === heads.length) return false;
      at += 1;
    }
    return true;
  }

  function linkAcronyms(entries) {
    const full = entries.filter((e) => !e.isAcronym && e.en);
    for (const a of entries.filter((e) => e.isAcronym)) {
      const named = /acronym of (.+?)\)?$/i.exec(a.note);
      const candidates = full.filter((f) => spells(a.en, f.en) && !f.acronym);
      const match =
        (named && full.find((f) => f.en.toLowerCase() === named[1].trim().toLowerCase())) ||
        candidates.find((f) => Math.abs(f.index - a.index) === 1) ||
        (candidates.length === 1 ? candidates[0] : null);
      if (match && !match.acronym) {
        match.acronym = a.en;
        a.full = match;
      }
    }
  }

  function spelling(word) {
    return escape(word)
      .replace(/-/g, "[\\s\\-]?")
      .replace(/i[sz]ation/gi, "i[sz]ation")
      .replace(/i[sz]ing/gi, "i[sz]ing")
      .replace(/labou?r/gi, "labou?r");
  }

  // A pattern for one form of a term (see the top of the file for the rules).
  function pattern(form, acronym) {
    if (HANGUL.test(form)) {
      const chars = [...form.replace(/\s+/g, "")].map(escape).join("\\s*");
      const before = /^[A-Za-z0-9]/.test(form) ? "(?<![A-Za-z0-9])" : "";
      const after = /[A-Za-z0-9]$/.test(form) ? "(?![A-Za-z0-9])" : "";
      return new RegExp(before + chars + after, "gu");
    }
    const words = form.split(/\s+/).map(spelling).join("[\\s\\-]+");
    const plural = acronym ? "" : "(?:s|es)?";
    return new RegExp(`(?<![A-Za-z0-9])${words}${plural}(?![A-Za-z0-9])`, acronym ? "gu" : "giu");
  }

  function compile(rows) {
    const entries = (rows || [])
      .map((row, index) => ({
        index,
        ko: clean(row && row.ko),
        en: clean(row && row.en),
        note: clean(row && row.note),
        acronym: "",
        full: null,
      }))
      .filter((e) => e.ko || e.en);
    entries.forEach((e, i) => {
      e.index = i;
      e.isAcronym = isAcronym(e);
    });
    linkAcronyms(entries);
    const patterns = [];
    const forms = new Set();
    for (const e of entries) {
      for (const form of new Set([e.ko, e.en].filter(Boolean))) {
        patterns.push({ entry: e, re: pattern(form, e.isAcronym) });
        forms.add(squash(form));
      }
    }
    return { entries, patterns, forms: [...forms] };
  }

  // A form for comparing prefixes: lower case, no spaces nor hyphens.
  function squash(text) {
    return text.toLowerCase().replace(/[\s\-]+/g, "");
  }

  // Could the words from a term to the end of a partial still become a longer term
  // ("한국" in "…한국사회적" may be the start of 한국사회적기업진흥원)?
  function mayGrow(glossary, tail) {
    const t = squash(tail);
    return glossary.forms.some((f) => f.length > t.length && f.startsWith(t));
  }

  // The term as the booth says it: its own language, else English, else Korean.
  function say(entry, lang) {
    return entry[lang] || entry.en || entry.ko;
  }

  function termItem(entry, heard, lang) {
    const named = entry.full || entry;
    const shown = named.acronym ? `${say(named, lang)} (${named.acronym})` : say(named, lang);
    return { key: `term:${named.index}`, kind: "term", shown, heard, note: named.note };
  }

  function findTerms(glossary, text) {
    const found = [];
    for (const { entry, re } of glossary.patterns) {
      re.lastIndex = 0;
      for (const m of text.matchAll(re)) {
        found.push({ start: m.index, end: m.index + m[0].length, entry, heard: m[0] });
      }
    }
    // Longest first claims its span; what overlaps a claimed span is a shorter reading.
    found.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
    const kept = [];
    for (const f of found) {
      if (!kept.some((k) => f.start < k.end && k.start < f.end)) kept.push(f);
    }
    return kept.sort((a, b) => a.start - b.start);
  }

  // ------------------------------------------------------------------ numbers
  const KO_DIGITS = { 일: 1, 이: 2, 삼: 3, 사: 4, 오: 5, 육: 6, 칠: 7, 팔: 8, 구: 9 };
  const KO_SMALL = { 십: 10, 백: 100, 천: 1000 };
  const KO_BIG = { 만: 1e4, 억: 1e8, 조: 1e12 };
  const EN_WORDS = {
    zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8,
    nine: 9, ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15,
    sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19, twenty: 20, thirty: 30,
    forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
  };
  const EN_SMALL = { hundred: 100 };
  const EN_BIG = { thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12 };
  // What may follow a Korean number or unit inside the same word: particles and suffixes
  // (3천명이, 2만여, 5년간, 3천명까지). Anything else means the syllable began another
  // word ("3 원칙" is not 3 won, "구조" is not nine trillion).
  const KO_FOLLOW = new Set([..."이가은는을를의에도로으와과만여쯤씩까부째간당나입인였라보처밖마및"]);
  // Units: what the booth says (`ko`, `en`, and `one` for a single one) and the forms
  // heard. `%` and the currency signs attach to the number.
  const UNITS = [
    { id: "people", ko: "명", en: "people", one: "person", forms: ["명", "인", "people", "persons", "person"] },
    { id: "won", ko: "원", en: "won", forms: ["원", "won"], sign: "₩" },
    { id: "usd", ko: "달러", en: "dollars", one: "dollar", forms: ["달러", "dollars", "dollar", "US dollars", "USD"], sign: "$" },
    { id: "eur", ko: "유로", en: "euros", one: "euro", forms: ["유로", "euros", "euro", "EUR"], sign: "€" },
    { id: "countries", ko: "개국", en: "countries", one: "country", forms: ["개국", "countries", "country"] },
    { id: "months", ko: "개월", en: "months", one: "month", forms: ["개월", "months", "month"] },
    { id: "age", ko: "세", en: "years old", one: "year old", forms: ["세", "살", "years old", "year old"] },
    { id: "years", ko: "년", en: "years", one: "year", forms: ["년", "years", "year"] },
    { id: "hours", ko: "시간", en: "hours", one: "hour", forms: ["시간", "hours", "hour"] },
    { id: "minutes", ko: "분", en: "minutes", one: "minute", forms: ["분", "minutes", "minute"] },
    { id: "times", ko: "배", en: "times", forms: ["배", "times", "fold"] },
    { id: "households", ko: "가구", en: "households", one: "household", forms: ["가구", "households", "household"] },
    { id: "companies", ko: "개사", en: "companies", one: "company", forms: ["개사", "companies", "company"] },
    { id: "places", ko: "곳", en: "places", one: "place", forms: ["곳", "개소", "places", "sites"] },
    { id: "items", ko: "개", en: "", forms: ["개"] },
    { id: "points", ko: "%p", en: "percentage points", one: "percentage point", forms: ["%p", "퍼센트포인트", "퍼센트 포인트", "percentage points", "percentage point"] },
    { id: "percent", ko: "%", en: "%", forms: ["%", "퍼센트", "프로", "percent", "per cent"] },
    { id: "month", ko: "월", en: "", forms: ["월"] },
  ];
  const UNIT_FORMS = UNITS.flatMap((unit) => unit.forms.map((form) => ({ unit, form })))
    .sort((a, b) => b.form.length - a.form.length);
  const SIGNS = { $: "usd", "₩": "won", "€": "eur" };
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"];
  const DIGITS = /\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/y;
  const LATIN_WORD = /[A-Za-z]+/y;

  const isHangul = (c) => Boolean(c) && HANGUL.test(c);
  const isLatin = (c) => Boolean(c) && /[A-Za-z]/.test(c);
  const isDigit = (c) => Boolean(c) && /[0-9]/.test(c);

  // May a Korean number or unit end before `at`? ("3천만원이": after 천, 만 and 원, yes.)
  function koreanEdge(text, at) {
    const c = text[at];
    if (!isHangul(c) || KO_FOLLOW.has(c) || c in KO_SMALL || c in KO_BIG) return true;
    return UNIT_FORMS.some(({ form }) => isHangul(form[0]) && text.startsWith(form, at));
  }

  // One token of a number at `at`: {type: "num" | "small" | "big" | "a", value, end, lang}.
  function token(text, at) {
    const c = text[at];
    if (isDigit(c)) {
      DIGITS.lastIndex = at;
      const m = DIGITS.exec(text);
      return { type: "num", value: Number(m[0].replace(/,/g, "")), end: at + m[0].length, lang: "digits" };
    }
    if (c in KO_DIGITS) return { type: "num", value: KO_DIGITS[c], end: at + 1, lang: "ko" };
    if (c in KO_SMALL) return { type: "small", value: KO_SMALL[c], end: at + 1, lang: "ko" };
    if (c in KO_BIG) return { type: "big", value: KO_BIG[c], end: at + 1, lang: "ko" };
    if (isLatin(c) && !isLatin(text[at - 1])) {
      LATIN_WORD.lastIndex = at;
      const word = LATIN_WORD.exec(text)[0];
      const lower = word.toLowerCase();
      const end = at + word.length;
      if (lower in EN_WORDS) return { type: "num", value: EN_WORDS[lower], end, lang: "en" };
      if (lower in EN_SMALL) return { type: "small", value: EN_SMALL[lower], end, lang: "en" };
      if (lower in EN_BIG) return { type: "big", value: EN_BIG[lower], end, lang: "en" };
      if (lower === "a" || lower === "an") return { type: "a", value: 1, end, lang: "en" };
    }
    return null;
  }

  // The separators allowed before the next token: none, spaces, an English hyphen
  // ("twenty-five") or "and" ("two hundred and fifty").
  function nextToken(text, at, last) {
    const gap = /[ \t]*(?:-|and[ \t]+)?[ \t]*/y;
    gap.lastIndex = at;
    const sep = gap.exec(text)[0];
    const t = token(text, at + sep.length);
    if (!t) return null;
    if (t.lang === "ko") {
      // Korean tokens attach; only after 만/억/조 may a space come ("1억 2천만").
      if (sep && !(last.type === "big" && last.lang === "ko")) return null;
      if (last.lang === "digits" && t.type === "num") return null; // "3천이": 이 is a particle
      if (t.type !== "num" && !koreanEdge(text, t.end)) return null;
    } else if (t.lang === "en") {
      if (!sep || (sep.includes("-") && !(last.lang === "en" && t.type === "num"))) return null;
      if (/and/.test(sep) && !(last.type === "small" && t.type === "num")) return null;
    } else if (sep && !(last.type === "big" && last.lang === "ko")) {
      return null; // digits: "2만 5,000", not "2022 30"
    }
    return t;
  }

  function readNumber(text, start) {
    let first = token(text, start);
    if (!first || first.type === "small" || first.type === "big") return null;
    if (first.lang === "ko" && isHangul(text[start - 1])) return null;
    if (first.lang === "digits") {
      // Not inside a code ("G20", "21st", "5G") nor an ordinal ("제3섹터": the third).
      const before = text[start - 1];
      if (isLatin(before) || isDigit(before) || before === "제" || isLatin(text[first.end])) return null;
    }
    let total = 0;
    let section = 0;
    let current = null;
    let lastBig = Infinity;
    let scaled = false;
    const langs = new Set();
    let end = start;
    for (let t = first, last = null; t; last = t, t = nextToken(text, end, last)) {
      if (t.type === "a") {
        if (last) break;
        const after = nextToken(text, t.end, t);
        if (!after || (after.type !== "small" && after.type !== "big")) return null;
        current = 1;
      } else if (t.type === "num") {
        if (last && (t.lang === "digits") !== langs.has("digits")) break; // "3천이": a particle
        if (current !== null) {
          // Only "twenty" + "five" adds up; two numbers in a row are two numbers.
          const tens = t.lang === "en" && last.lang === "en" && current % 10 === 0 && current >= 20 && current < 100 && t.value < 10;
          if (!tens) break;
          current += t.value;
        } else {
          current = t.value;
        }
      } else if (t.type === "small") {
        section += (current === null ? 1 : current) * t.value;
        current = null;
        scaled = true;
      } else {
        if (t.value >= lastBig) break;
        section += current === null ? 0 : current;
        total += (section || 1) * t.value;
        section = 0;
        current = null;
        lastBig = t.value;
        scaled = true;
      }
      langs.add(t.lang);
      end = t.end;
    }
    const value = round(total + section + (current === null ? 0 : current));
    return { start, end, value, langs, scaled };
  }

  function readUnit(text, at) {
    const spaces = /[ \t]*/y;
    spaces.lastIndex = at;
    const sep = spaces.exec(text)[0];
    for (const { unit, form } of UNIT_FORMS) {
      const from = at + sep.length;
      if (text.slice(from, from + form.length).toLowerCase() !== form.toLowerCase()) continue;
      const end = from + form.length;
      if (isHangul(form[0])) {
        if (!koreanEdge(text, end)) continue;
      } else if (isLatin(form[0])) {
        if (!sep || isLatin(text[end])) continue;
      } else if (isDigit(text[end]) || isLatin(text[end])) {
        continue; // "%" or "%p" is not followed by a letter ("%points"?) nor digit
      }
      return { unit, end };
    }
    return null;
  }

  function findNumbers(text) {
    const found = [];
    for (let i = 0; i < text.length; i += 1) {
      const sign = SIGNS[text[i]] && isDigit(text[i + 1]) ? text[i] : "";
      const n = readNumber(text, i + sign.length);
      if (!n) continue;
      const u = readUnit(text, n.end);
      const unit = sign ? UNITS.find((x) => x.id === SIGNS[sign]) : u && u.unit;
      const end = u && (!sign || u.unit === unit) ? u.end : n.end;
      const wordsOnly = !n.langs.has("digits");
      // Korean number words need a scale word and a unit ("이 분" is "this person",
      // "구조" a structure; "삼천 명" a number); English ones a unit or ten and more.
      const keep = n.langs.has("ko") && wordsOnly
        ? Boolean(unit) && n.scaled
        : !wordsOnly || Boolean(unit) || n.value >= 10;
      if (keep) {
        found.push({ start: i, end, heard: text.slice(i, end), value: n.value, unit, scaled: n.scaled });
      }
      i = Math.max(i, end - 1);
    }
    return found;
  }

  function round(value) {
    return Math.round(value * 1e6) / 1e6;
  }

  function commas(value) {
    const [whole, fraction] = String(round(value)).split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return fraction ? `${grouped}.${fraction}` : grouped;
  }

  // 120000000 → "1억 2,000만"; under 만 (or with a fraction), plain digits.
  function koreanReading(value) {
    if (value < 1e4 || !Number.isInteger(value)) return commas(value);
    const parts = [];
    let rest = value;
    for (const [name, size] of [["조", 1e12], ["억", 1e8], ["만", 1e4]]) {
      const count = Math.floor(rest / size);
      if (count) parts.push(`${commas(count)}${name}`);
      rest -= count * size;
    }
    if (rest) parts.push(commas(rest));
    return parts.join(" ");
  }

  // 120000000 → "120 million" (only when it is exact to two decimals).
  function englishReading(value) {
    for (const [name, size] of [["trillion", 1e12], ["billion", 1e9], ["million", 1e6]]) {
      if (value >= size) {
        const count = round(value / size);
        return Number.isInteger(round(count * 100)) ? `${count} ${name}` : "";
      }
    }
    return "";
  }

  function numberItem(n, lang) {
    const u = n.unit;
    const year = u && u.id === "years" && !n.scaled && Number.isInteger(n.value) && n.value >= 1000 && n.value <= 2200;
    const month = u && u.id === "month" && Number.isInteger(n.value) && n.value >= 1 && n.value <= 12;
    let shown;
    if (year) shown = lang === "ko" ? `${n.value}년` : String(n.value);
    else if (month) shown = lang === "ko" ? `${n.value}월` : MONTHS[n.value - 1];
    else if (u && u.id === "month") shown = commas(n.value); // "13월"? not a month
    else if (!u && /^[12]\d{3}$/.test(n.heard)) shown = n.heard; // "in 2022": a year, no comma
    else {
      const ko = lang === "ko";
      const digits = commas(n.value);
      const reading = ko ? koreanReading(n.value) : englishReading(n.value);
      const name = !u ? "" : ko ? u.ko : n.value === 1 && u.one ? u.one : u.en;
      const main = ko && reading !== digits ? reading : digits;
      const withUnit = !name ? main : name.startsWith("%") ? `${main}${name}` : `${main} ${name}`;
      const aside = ko ? (reading !== digits ? digits : "") : reading;
      shown = aside ? `${withUnit} (${aside})` : withUnit;
    }
    const unitKey = year ? "year" : month ? "month" : u ? u.id : "";
    return { key: `number:${n.value}:${unitKey}`, kind: "number", shown, heard: n.heard, note: "" };
  }

  // ------------------------------------------------------------------ together
  // Every term and number of `text`, in spoken order; a number inside a term (제3섹터)
  // belongs to the term. `unsure`: what a partial should hold back, as the words at its
  // end may still grow (a number at the very end, a term that may become a longer one).
  function scan(glossary, text, lang) {
    const terms = findTerms(glossary, text);
    const numbers = findNumbers(text).filter(
      (n) => !terms.some((t) => n.start < t.end && t.start < n.end),
    );
    const items = [
      ...terms.map((t) => ({
        at: t.start,
        item: termItem(t.entry, t.heard, lang),
        unsure: mayGrow(glossary, text.slice(t.start)),
      })),
      ...numbers.map((n) => ({
        at: n.start,
        item: numberItem(n, lang),
        unsure: n.end >= text.trimEnd().length,
      })),
    ];
    return items.sort((a, b) => a.at - b.at);
  }

  function create(rows) {
    const glossary = compile(rows);
    const utterances = new Map(); // "source:utterance" → {finals, shown}
    return {
      glossary,
      // The items of this caption not yet shown for its utterance, in spoken order.
      hear(caption, lang) {
        const id = `${caption.source || ""}:${caption.utterance}`;
        let u = utterances.get(id);
        if (!u) {
          u = { finals: "", shown: new Set() };
          utterances.set(id, u);
          while (utterances.size > KEEP_UTTERANCES) utterances.delete(utterances.keys().next().value);
        }
        const text = `${u.finals} ${caption.text || ""}`.trim();
        if (caption.final) u.finals = text;
        const out = [];
        for (const { item, unsure } of scan(glossary, text, lang)) {
          if (unsure && !caption.final) continue;
          if (u.shown.has(item.key)) continue;
          u.shown.add(item.key);
          out.push(item);
        }
        return out;
      },
    };
  }

  const api = { create, compile, scan, findTerms, findNumbers, koreanReading, englishReading, spells };
  root.Prompter = api;
  if (typeof module === "object" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
