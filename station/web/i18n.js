// The station page's words in English and Simplified Chinese. Plain words for clinic staff:
// no jargon, no abbreviations a village clinic would not use.
export const LANGUAGES = ["en", "zh-CN"];

export const WORDS = {
  en: {
    title: "Farlink station",
    checking: "Checking…",
    online: "Online",
    offline: "Offline: not connected to the hospital",
    call_heading: "Call a specialist",
    priority: "How urgent?",
    emergency: "Emergency",
    urgent: "Urgent",
    routine: "Routine",
    reason: "Reason",
    reason_hint: "For example: fever for three days",
    call: "Call a specialist",
    no_call: "No call yet.",
    waiting: "Calling… waiting for a specialist.",
    waiting_position: "Calling… you are number {position} of {of} in the queue.",
    live: "A specialist is with you now.",
    call_sent: "Call sent.",
    self_view: "What the specialist sees",
    take_still: "Take a photo for the specialist",
    still_taken: "Photo taken.",
    link_heading: "Connection to the hospital",
    check_link: "Check the connection",
    link_checking: "Checking the connection…",
    link_unknown: "Not checked yet.",
    link_good: "Good connection",
    link_fair: "Slow connection: video will be small",
    link_poor: "Very slow connection: sound and readings first",
    link_detail: "Delay {rtt} ms · sending {up} · receiving {down} · starting setting: {profile}",
    devices_heading: "Devices",
    no_devices: "No devices are set up.",
    connected: "Connected",
    connecting: "Connecting…",
    disconnected: "Not connected",
    last_reading: "last reading {ago}",
    no_reading: "No reading yet",
    note_heading: "Note for the record",
    note_hint: "For example: gave paracetamol 1 g at 10:20",
    save_note: "Save the note",
    note_saved: "Note saved. It goes to the hospital with the readings.",
    outbox_heading: "Waiting to be sent",
    outbox_empty: "Everything has been sent.",
    records_waiting: "{count} readings and messages waiting to be sent (the oldest from {ago})",
    records_refused: "{count} refused by the hospital (kept on this station)",
    photo: "Photo {name}",
    seconds_ago: "{n} s ago",
    minutes_ago: "{n} min ago",
    error_offline: "The hospital cannot be reached. Try again when the station is online.",
    error_consult_open: "A call is already open.",
    error_other: "That did not work: {message}",
    kinds: {
      spo2: "Oxygen (SpO₂)", pulse_rate: "Pulse", heart_rate: "Heart rate", systolic: "Blood pressure, upper",
      diastolic: "Blood pressure, lower", mean_arterial: "Blood pressure, mean", cuff_pressure: "Cuff pressure",
      body_temperature: "Temperature", glucose: "Blood sugar", body_weight: "Weight", bmi: "Body mass index",
      height: "Height", rr_interval: "Beat interval", perfusion_index: "Perfusion index",
      energy_expended: "Energy used",
    },
  },
  "zh-CN": {
    title: "Farlink 远程诊疗站",
    checking: "正在检查…",
    online: "已联网",
    offline: "未联网：连不上医院",
    call_heading: "呼叫专家",
    priority: "有多紧急？",
    emergency: "急救",
    urgent: "紧急",
    routine: "普通",
    reason: "原因",
    reason_hint: "例如：发烧三天",
    call: "呼叫专家",
    no_call: "还没有呼叫。",
    waiting: "正在呼叫…请等待专家。",
    waiting_position: "正在呼叫…您排在第 {position} 位，共 {of} 位。",
    live: "专家正在与您通话。",
    call_sent: "呼叫已发出。",
    self_view: "专家看到的画面",
    take_still: "为专家拍一张照片",
    still_taken: "照片已拍好。",
    link_heading: "与医院的网络连接",
    check_link: "检查网络",
    link_checking: "正在检查网络…",
    link_unknown: "还没有检查。",
    link_good: "网络良好",
    link_fair: "网络较慢：视频画面会变小",
    link_poor: "网络很慢：先保证声音和读数",
    link_detail: "延迟 {rtt} 毫秒 · 上传 {up} · 下载 {down} · 起始设置：{profile}",
    devices_heading: "设备",
    no_devices: "没有设置设备。",
    connected: "已连接",
    connecting: "正在连接…",
    disconnected: "未连接",
    last_reading: "最近读数 {ago}",
    no_reading: "还没有读数",
    note_heading: "病历备注",
    note_hint: "例如：10:20 给了扑热息痛 1 克",
    save_note: "保存备注",
    note_saved: "备注已保存，会和读数一起发送到医院。",
    outbox_heading: "等待发送",
    outbox_empty: "全部已发送。",
    records_waiting: "{count} 条读数和消息等待发送（最早的来自{ago}）",
    records_refused: "{count} 条被医院拒收（保存在本站）",
    photo: "照片 {name}",
    seconds_ago: "{n} 秒前",
    minutes_ago: "{n} 分钟前",
    error_offline: "连不上医院。请在联网后再试。",
    error_consult_open: "已经有一个呼叫。",
    error_other: "操作没有成功：{message}",
    kinds: {
      spo2: "血氧 (SpO₂)", pulse_rate: "脉搏", heart_rate: "心率", systolic: "血压（高压）",
      diastolic: "血压（低压）", mean_arterial: "平均血压", cuff_pressure: "袖带压力",
      body_temperature: "体温", glucose: "血糖", body_weight: "体重", bmi: "体重指数",
      height: "身高", rr_interval: "心跳间期", perfusion_index: "灌注指数",
      energy_expended: "消耗能量",
    },
  },
};

/** The first of the browser's languages we have words for (navigator.languages follows Accept-Language). */
export function pickLanguage(preferred) {
  for (const tag of preferred) {
    if (WORDS[tag]) return tag;
    if (tag.toLowerCase().startsWith("zh")) return "zh-CN";
    if (tag.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

/** A translator for `lang`: t("key", {name: value}) fills {name} placeholders. */
export function translator(lang) {
  const words = WORDS[lang] || WORDS.en;
  const t = (key, values = {}) => {
    const text = words[key] ?? WORDS.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  };
  t.kind = (kind) => words.kinds[kind] ?? WORDS.en.kinds[kind] ?? kind;
  return t;
}
