export { runNeurofeedback, roiMean, percentile, bar, type NeurofeedbackOptions, type VolumeResult } from './neurofeedback.js';
export { runDemo, type DemoOptions, type DemoSummary } from './demo.js';
