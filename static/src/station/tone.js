/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */

// Short beeps an operator tells apart without looking: rising for posted,
// falling for deferred, low and rough for refused.
const TONES = {
    scan: {type: "sine", notes: [1046]},
    success: {type: "sine", notes: [784, 1175]},
    warning: {type: "triangle", notes: [880, 587]},
    error: {type: "square", notes: [220, 165, 220]},
};

let context = null;

export function playTone(name) {
    const tone = TONES[name];
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!tone || !AudioContext) {
        return;
    }
    try {
        context = context || new AudioContext();
        let start = context.currentTime;
        for (const frequency of tone.notes) {
            const oscillator = context.createOscillator();
            const gain = context.createGain();
            oscillator.type = tone.type;
            oscillator.frequency.value = frequency;
            gain.gain.setValueAtTime(0.15, start);
            gain.gain.exponentialRampToValueAtTime(0.001, start + 0.14);
            oscillator.connect(gain).connect(context.destination);
            oscillator.start(start);
            oscillator.stop(start + 0.15);
            start += 0.16;
        }
    } catch {
        // A device without sound still shows the colours
    }
}
