import { parse } from './args.js';
import type { Command } from './command.js';

const help = `Usage: rtfmri demo [options]\n\n(not available yet in this build)`;

export const demoCommand: Command = {
  name: 'demo',
  summary: '',
  help,
  async run(argv, io) {
    const p = parse(argv, {}, { min: 0, max: 0 });
    if (p.values.help) return io.out(help), 0;
    throw new Error('rtfmri demo is not available yet in this build');
  },
};
