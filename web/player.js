// The channel's YouTube broadcast, through the YouTube IFrame Player API
// (https://developers.google.com/youtube/iframe_api_reference), loaded from YouTube when
// a video is first shown. Switching channels loads the other video into the same player,
// without reloading the page. If the API cannot load (blocked, offline), a plain embed
// iframe is used instead.

const API_URL = "https://www.youtube.com/iframe_api";
const API_TIMEOUT_MS = 8000;

let apiPromise = null;

function loadApi() {
  if (window.YT && window.YT.Player) return Promise.resolve(window.YT);
  if (apiPromise) return apiPromise;
  apiPromise = new Promise((resolve, reject) => {
    const previous = window.onYouTubeIframeAPIReady;
    window.onYouTubeIframeAPIReady = () => {
      if (typeof previous === "function") previous();
      resolve(window.YT);
    };
    const script = document.createElement("script");
    script.src = API_URL;
    script.async = true;
    script.onerror = () => reject(new Error("the YouTube player API did not load"));
    document.head.append(script);
    setTimeout(() => reject(new Error("the YouTube player API took too long")), API_TIMEOUT_MS);
  });
  return apiPromise;
}

export class BroadcastPlayer {
  /** `box`: the element the player fills; `title`: its accessible name. */
  constructor(box, title) {
    this.box = box;
    this.title = title;
    this.player = null; // a YT.Player once the API is ready
    this.ready = false;
    this.videoId = null; // what should be showing
    this.shown = null; // what is showing
    this.fallback = false;
  }

  /** Show `videoId` (null hides the player); `embedUrl` is used without the API. */
  show(videoId, embedUrl, live) {
    this.videoId = videoId || null;
    this.embedUrl = embedUrl || (videoId ? `https://www.youtube.com/embed/${videoId}` : null);
    this.live = Boolean(live);
    this.box.hidden = !this.videoId;
    if (!this.videoId || this.videoId === this.shown) return;
    if (this.fallback) {
      this.showIframe();
    } else if (this.player && this.ready) {
      this.swap();
    } else if (!this.player) {
      this.create();
    }
  }

  create() {
    const target = document.createElement("div");
    this.box.replaceChildren(target);
    this.player = "loading";
    loadApi()
      .then((YT) => {
        const created = this.videoId;
        this.player = new YT.Player(target, {
          videoId: created,
          playerVars: { playsinline: 1, rel: 0, origin: location.origin },
          events: {
            onReady: () => {
              this.ready = true;
              const frame = this.box.querySelector("iframe");
              if (frame) frame.title = this.title;
              this.shown = created;
              this.swap(); // the channel may have changed while the player loaded
            },
          },
        });
      })
      .catch((error) => {
        console.warn(`${error.message}; embedding the video directly`);
        this.fallback = true;
        this.player = null;
        this.showIframe();
      });
  }

  swap() {
    if (!this.videoId || this.videoId === this.shown) return;
    // A live broadcast plays at once, as the one it replaces did; others wait to be started.
    if (this.live) this.player.loadVideoById(this.videoId);
    else this.player.cueVideoById(this.videoId);
    this.shown = this.videoId;
  }

  showIframe() {
    let frame = this.box.querySelector("iframe");
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = this.title;
      frame.allow = "autoplay; encrypted-media; picture-in-picture; fullscreen";
      frame.allowFullscreen = true;
      this.box.replaceChildren(frame);
    }
    if (frame.getAttribute("src") !== this.embedUrl) frame.setAttribute("src", this.embedUrl);
    this.shown = this.videoId;
  }

  setTitle(title) {
    this.title = title;
    const frame = this.box.querySelector("iframe");
    if (frame) frame.title = title;
  }
}
