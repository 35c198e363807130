// Unit tests of web/prompter.js (the console's term prompter), for Node's built-in runner:
//   node --test tests/prompter.test.js
// tests/test_prompter.py runs them from pytest.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const Prompter = require("../web/prompter.js");

const ROWS = [
  { ko: "ILO", en: "ILO", note: "organisation (acronym)" },
  { ko: "국제노동기구", en: "International Labour Organization", note: "organisation" },
  { ko: "KoSEA", en: "KoSEA", note: "organisation (acronym)" },
  { ko: "한국사회적기업진흥원", en: "Korea Social Enterprise Promotion Agency", note: "organisation" },
  { ko: "사회연대경제", en: "social and solidarity economy", note: "term" },
  { ko: "SSE", en: "SSE", note: "term (acronym of social and solidarity economy)" },
  { ko: "사회적경제", en: "social economy", note: "term" },
  { ko: "연대경제", en: "solidarity economy", note: "term" },
  { ko: "협동조합", en: "cooperative", note: "term" },
  { ko: "제3섹터", en: "third sector", note: "term" },
  { ko: "한국", en: "Korea", note: "place" },
  { ko: "유엔", en: "United Nations", note: "organisation" },
  { ko: "UN", en: "UN", note: "organisation (acronym)" },
  { ko: "국제협동조합연맹", en: "International Cooperative Alliance", note: "organisation" },
  { ko: "", en: "ICA", note: "organisation (acronym of International Cooperative Alliance)" },
  { ko: "경제협력개발기구", en: "Organisation for Economic Co-operation and Development", note: "" },
];

function shown(text, lang, rows = ROWS) {
  return Prompter.scan(Prompter.compile(rows), text, lang).map((x) => x.item.shown);
}

test("a Korean term heard shows its English form, with the acronym", () => {
  assert.deepEqual(shown("사회연대경제는 중요합니다", "en"), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(shown("한국사회적기업진흥원에 따르면", "en"), [
    "Korea Social Enterprise Promotion Agency (KoSEA)",
  ]);
});

test("an English term heard shows its Korean form; an acronym shows the full name", () => {
  assert.deepEqual(shown("The ILO and the social and solidarity economy", "ko"), [
    "국제노동기구 (ILO)",
    "사회연대경제 (SSE)",
  ]);
  assert.deepEqual(shown("KoSEA가 발표한", "en"), ["Korea Social Enterprise Promotion Agency (KoSEA)"]);
  assert.deepEqual(shown("members of the ICA", "ko"), ["국제협동조합연맹 (ICA)"]);
});

test("the longest term wins over the terms inside it", () => {
  assert.deepEqual(shown("사회연대경제", "en"), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(shown("한국사회적기업진흥원", "en").length, 1);
  assert.deepEqual(shown("연대경제와 사회적경제", "en"), ["solidarity economy", "social economy"]);
});

test("Korean spacing, English case, plurals and spelling do not hide a term", () => {
  assert.deepEqual(shown("사회 연대 경제", "en"), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(shown("Cooperatives and the International Labour Organisation", "ko"), [
    "협동조합",
    "국제노동기구 (ILO)",
  ]);
  assert.deepEqual(shown("the Organization for Economic Cooperation and Development", "ko"), [
    "경제협력개발기구",
  ]);
});

test("English terms are whole words; acronyms keep their case", () => {
  assert.deepEqual(shown("a silo, UNESCO, un peu", "ko"), []);
  assert.deepEqual(shown("the UN said", "ko"), ["유엔 (UN)"]);
});

test("an acronym is tied to the full name it spells", () => {
  assert.ok(Prompter.spells("KoSEA", "Korea Social Enterprise Promotion Agency"));
  assert.ok(Prompter.spells("OECD", "Organisation for Economic Co-operation and Development"));
  assert.ok(!Prompter.spells("UN", "United Nations Research Institute for Social Development"));
  assert.ok(!Prompter.spells("ILO", "International Labour Conference"));
});

test("numbers show as digits with their unit in the booth's language", () => {
  const cases = [
    ["3천 명", "en", ["3,000 people"]],
    ["3천 명", "ko", ["3,000 명"]],
    ["3천명이 참여했습니다", "en", ["3,000 people"]],
    ["1억 2천만 원", "en", ["120,000,000 won (120 million)"]],
    ["1억 2천만 원", "ko", ["1억 2,000만 원 (120,000,000)"]],
    ["2만5천 개사", "en", ["25,000 companies"]],
    ["3.5억 달러", "en", ["350,000,000 dollars (350 million)"]],
    ["30 퍼센트", "en", ["30%"]],
    ["30%p 올랐다", "en", ["30 percentage points"]],
    ["5개국에서", "en", ["5 countries"]],
    ["5년간", "en", ["5 years"]],
    ["2022년에", "en", ["2022"]],
    ["6월에", "en", ["June"]],
    ["삼천 명", "en", ["3,000 people"]],
    ["1.5 million people", "ko", ["150만 명 (1,500,000)"]],
    ["1.5 million people", "en", ["1,500,000 people (1.5 million)"]],
    ["30 million", "ko", ["3,000만 (30,000,000)"]],
    ["30 percent", "ko", ["30%"]],
    ["three thousand two hundred", "ko", ["3,200"]],
    ["twenty-five countries", "ko", ["25 개국"]],
    ["a million dollars", "ko", ["100만 달러 (1,000,000)"]],
    ["$3 billion", "ko", ["30억 달러 (3,000,000,000)"]],
    ["in 2022, 12,500 workers", "ko", ["2022", "1만 2,500 (12,500)"]],
    ["one person", "ko", ["1 명"]],
  ];
  for (const [text, lang, want] of cases) assert.deepEqual(shown(text, lang), want, text);
});

test("what only looks like a number is left alone", () => {
  const none = [
    "구조 개혁", // a structure, not nine trillion
    "이 분이 말씀하신", // "this person", not two minutes
    "일본과 사회", // words that begin with numerals
    "one of them", // a small number word without a unit
    "G20 and the 21st century and 5G",
    "제3섹터", // a term, and an ordinal inside it
  ];
  for (const text of none) {
    const numbers = Prompter.scan(Prompter.compile(ROWS), text, "en").filter(
      (x) => x.item.kind === "number",
    );
    assert.deepEqual(numbers, [], text);
  }
  assert.deepEqual(shown("3천이 넘는", "en"), ["3,000"]); // 이: a particle, not 2
  assert.deepEqual(shown("3 원칙", "en"), ["3"]); // 원칙 (principle) is no won
});

test("numbers and Korean readings", () => {
  assert.equal(Prompter.koreanReading(120000000), "1억 2,000만");
  assert.equal(Prompter.koreanReading(25000), "2만 5,000");
  assert.equal(Prompter.koreanReading(9999), "9,999");
  assert.equal(Prompter.englishReading(1500000), "1.5 million");
  assert.equal(Prompter.englishReading(1234567), "");
  assert.equal(Prompter.englishReading(999999), "");
});

test("each item shows once per utterance, from partials and finals", () => {
  const p = Prompter.create(ROWS);
  const hear = (utterance, text, final) =>
    p.hear({ source: "floor", utterance, text, final }, "en").map((i) => i.shown);
  assert.deepEqual(hear(1, "사회연대경제", false), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(hear(1, "사회연대경제는 3", false), []); // "3" may yet grow
  assert.deepEqual(hear(1, "사회연대경제는 3천 명", false), []); // "명" may yet be "명단"?
  assert.deepEqual(hear(1, "사회연대경제는 3천 명의", false), ["3,000 people"]);
  assert.deepEqual(hear(1, "사회연대경제는 3천 명의 일자리를", true), []);
  // The next words of the same utterance: a term split across a final and a partial.
  assert.deepEqual(hear(1, "만들었고 한국사회적", false), []);
  assert.deepEqual(hear(1, "만들었고 한국사회적기업진흥원이", false), [
    "Korea Social Enterprise Promotion Agency (KoSEA)",
  ]);
  assert.deepEqual(hear(1, "KoSEA", false), []); // the same organisation
  // A new utterance shows them again; another source keeps its own utterances.
  assert.deepEqual(hear(2, "사회연대경제", true), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(
    p.hear({ source: "booth-ko", utterance: 2, text: "사회연대경제", final: true }, "ko").map((i) => i.shown),
    ["사회연대경제 (SSE)"],
  );
});

test("a final shows the number the partial held back", () => {
  const p = Prompter.create([]);
  assert.deepEqual(p.hear({ source: "floor", utterance: 7, text: "about 30", final: false }, "ko"), []);
  const items = p.hear({ source: "floor", utterance: 7, text: "about 30 percent", final: true }, "ko");
  assert.deepEqual(items.map((i) => [i.kind, i.shown, i.heard]), [["number", "30%", "30 percent"]]);
});

test("the event's glossary: every acronym with a full name in it is tied to it", () => {
  const csv = fs.readFileSync(path.join(__dirname, "..", "config", "glossary.csv"), "utf8");
  const rows = csv
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => {
      const cells = [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)]
        .map((m) => m[1].replace(/^"|"$/g, "").replace(/""/g, '"'))
        .slice(0, 3);
      return { ko: cells[0], en: cells[1], note: cells[2] };
    });
  const glossary = Prompter.compile(rows);
  const tied = Object.fromEntries(
    glossary.entries.filter((e) => e.full).map((e) => [e.en, e.full.en]),
  );
  assert.equal(tied.ILO, "International Labour Organization");
  assert.equal(tied.KoSEA, "Korea Social Enterprise Promotion Agency");
  assert.equal(tied.SSE, "social and solidarity economy");
  assert.equal(tied.UN, "United Nations");
  assert.equal(tied.UNRISD, "United Nations Research Institute for Social Development");
  assert.equal(tied.OECD, "Organisation for Economic Co-operation and Development");
  assert.equal(tied.ICA, "International Cooperative Alliance");
  assert.equal(tied.ESG, undefined); // no full name in the glossary
  assert.deepEqual(shown("사회연대경제", "en", rows), ["social and solidarity economy (SSE)"]);
  assert.deepEqual(shown("한국사회적기업진흥원", "en", rows), [
    "Korea Social Enterprise Promotion Agency (KoSEA)",
  ]);
});
