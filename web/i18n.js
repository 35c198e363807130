// The viewer page's own words, in English and Korean. Keys are used by viewer.js and by
// `data-i18n` attributes in index.html (text) and `data-i18n-label` (aria-label, title).

export const WORDS = {
  en: {
    title: "Live captions",
    channel: "Language",
    dual: "Both languages",
    second: "Second language",
    delay: "Caption delay",
    delayLess: "Show captions sooner",
    delayMore: "Show captions later",
    seconds: (s) => `${s.toFixed(1)} s`,
    smaller: "Smaller text",
    larger: "Larger text",
    contrast: "High contrast",
    dark: "Dark mode",
    uiLanguage: "한국어",
    uiLanguageLabel: "페이지를 한국어로 보기",
    transcript: "Transcript",
    showTranscript: "Transcript",
    search: "Search the transcript",
    download: "Download (.txt)",
    matches: (n) => `${n} matching`,
    noCaptions: "Captions will appear here.",
    connecting: "Connecting…",
    connected: "Captions connected",
    connectedSegments: "Captions connected (cached feed)",
    viaSegments: "The live connection is blocked here: captions come from the cached feed, a second or two later.",
    reconnecting: "Connection lost: reconnecting…",
    live: "LIVE",
    watching: (n) => `${n.toLocaleString("en")} watching`,
    startsIn: (t) => `Starts in ${t}`,
    startsAt: (t) => `(${t})`,
    startingSoon: "Starting soon",
    upcoming: "Upcoming",
    ended: "The broadcast has ended.",
    readTranscript: "Read the transcript",
    notFound: "The broadcast is not available.",
    nowFloor: (lang) => `Now: floor, ${lang}`,
    nowBooth: (booth) => `Now: interpretation from ${booth}`,
    nowNothing: "Now: no interpretation on air",
    gap: "Some captions were missed; the transcript has them.",
    gapLine: "[captions missed here]",
    restarted: "[the captions restarted]",
    keysTitle: "Keyboard",
    keys: [
      ["L", "next language"],
      ["B", "both languages"],
      ["+ / −", "text size"],
      ["[ / ]", "caption delay"],
      ["T", "transcript"],
      ["/", "search the transcript"],
      ["C", "high contrast"],
      ["D", "dark mode"],
      ["K", "한국어 / English"],
    ],
    languages: { ko: "Korean", en: "English" },
  },
  ko: {
    title: "실시간 자막",
    channel: "언어",
    dual: "두 언어 함께 보기",
    second: "두 번째 언어",
    delay: "자막 지연",
    delayLess: "자막 더 빨리",
    delayMore: "자막 더 늦게",
    seconds: (s) => `${s.toFixed(1)}초`,
    smaller: "글자 작게",
    larger: "글자 크게",
    contrast: "고대비",
    dark: "어두운 화면",
    uiLanguage: "English",
    uiLanguageLabel: "Show this page in English",
    transcript: "전체 자막",
    showTranscript: "전체 자막",
    search: "자막 검색",
    download: "내려받기 (.txt)",
    matches: (n) => `${n}건 일치`,
    noCaptions: "자막이 여기에 표시됩니다.",
    connecting: "연결 중…",
    connected: "자막 연결됨",
    connectedSegments: "자막 연결됨 (캐시 피드)",
    viaSegments: "이곳에서는 실시간 연결이 막혀 있어 캐시 피드로 자막을 받습니다. 1~2초 늦을 수 있습니다.",
    reconnecting: "연결이 끊겼습니다. 다시 연결하는 중…",
    live: "생중계",
    watching: (n) => `${n.toLocaleString("ko")}명 시청 중`,
    startsIn: (t) => `${t} 후 시작`,
    startsAt: (t) => `(${t})`,
    startingSoon: "곧 시작합니다",
    upcoming: "예정된 방송",
    ended: "방송이 끝났습니다.",
    readTranscript: "전체 자막 보기",
    notFound: "방송을 볼 수 없습니다.",
    nowFloor: (lang) => `현재: 연단 발언 (${lang})`,
    nowBooth: (booth) => `현재: ${booth} 통역`,
    nowNothing: "현재: 통역 없음",
    gap: "놓친 자막이 있습니다. 전체 자막에서 볼 수 있습니다.",
    gapLine: "[이 부분의 자막을 놓쳤습니다]",
    restarted: "[자막이 다시 시작되었습니다]",
    keysTitle: "키보드",
    keys: [
      ["L", "다음 언어"],
      ["B", "두 언어 함께"],
      ["+ / −", "글자 크기"],
      ["[ / ]", "자막 지연"],
      ["T", "전체 자막"],
      ["/", "자막 검색"],
      ["C", "고대비"],
      ["D", "어두운 화면"],
      ["K", "한국어 / English"],
    ],
    languages: { ko: "한국어", en: "영어" },
  },
};

/** The words of `ui` ("en" or "ko"), English for any other. */
export function wordsFor(ui) {
  return WORDS[ui] || WORDS.en;
}

/** Fill every `[data-i18n]` element's text and `[data-i18n-label]` aria-label under `root`. */
export function translate(root, words) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const value = words[el.dataset.i18n];
    if (typeof value === "string") el.textContent = value;
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    const value = words[el.dataset.i18nLabel];
    if (typeof value === "string") {
      el.setAttribute("aria-label", value);
      if (el.tagName === "INPUT") el.placeholder = value;
      else el.title = value;
    }
  }
}
