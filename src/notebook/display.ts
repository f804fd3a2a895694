/** Notebooks import `liveLine` from here; the implementation sits in io/ so training progress can use it too. */
export { liveLine, newNotebookDisplay, type TextDisplay } from '../io/display';
