"""The protocol form as a user sees it, rendered headless under Xvfb:
``scipion3 tests relion_dem.tests.test_form``.

Opens the ProtRelionDemRefine form (no Tk error may be reported), visits every tab,
switches the denoiser through all its choices (the conditional fields follow), and saves
screenshots of the first tab and of the Regularization tab to the test project folder
(``form_Input.png``, ``form_Regularization.png``); a screenshot must not be blank.
Needs an X display: uses $DISPLAY or starts ``Xvfb`` (Debian: apt-get install xvfb).
"""
import os
import shutil
import subprocess
import time
import unittest

from pyworkflow.tests import BaseTest

from relion_dem.core.enhancers import BACKENDS, choice_index, form_choices
from relion_dem.tests.base import setup_project


def start_xvfb():
    """A private X server; returns the Popen (or None if $DISPLAY is usable already)."""
    if os.environ.get('DISPLAY'):
        return None
    xvfb = shutil.which('Xvfb')
    if xvfb is None:
        raise unittest.SkipTest('no $DISPLAY and no Xvfb (apt-get install xvfb)')
    for n in range(91, 140):
        if os.path.exists('/tmp/.X%d-lock' % n):
            continue
        proc = subprocess.Popen([xvfb, ':%d' % n, '-screen', '0', '1400x1000x24', '-nolisten', 'tcp'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists('/tmp/.X11-unix/X%d' % n):
                os.environ['DISPLAY'] = ':%d' % n
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()
    raise unittest.SkipTest('could not start Xvfb')


class TestForm(BaseTest):

    @classmethod
    def setUpClass(cls):
        setup_project(cls)
        cls.xvfb = start_xvfb()

    @classmethod
    def tearDownClass(cls):
        if cls.xvfb is not None:
            cls.xvfb.terminate()
            cls.xvfb.wait(10)
            os.environ.pop('DISPLAY', None)

    def _screenshot(self, root, path):
        from PIL import ImageGrab
        root.update()
        x, y = root.winfo_rootx(), root.winfo_rooty()
        w, h = root.winfo_width(), root.winfo_height()
        img = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ['DISPLAY'])
        img.save(path)
        lo, hi = img.convert('L').getextrema()
        self.assertGreater(hi - lo, 50, '%s looks blank' % path)
        return img

    def test_form_renders(self):
        from tkinter import ttk
        import pyworkflow.gui.project  # noqa: F401  (imports gui.form in the order it needs)
        from pyworkflow.gui.form import FormWindow
        from relion_dem.protocols import ProtRelionDemRefine

        prot = self.newProtocol(ProtRelionDemRefine, objLabel='form check')
        errors = []
        win = FormWindow('Protocol Run: ' + prot.getClassName(), prot, lambda *a, **k: None)
        win.root.report_callback_exception = lambda *exc: errors.append(exc)
        try:
            win.root.geometry('1100x900+0+0')
            win.root.deiconify()
            win.root.update()

            tabs = []
            stack = [win.root]
            while stack:
                wdg = stack.pop()
                if isinstance(wdg, ttk.Notebook):
                    tabs.append(wdg)
                stack.extend(wdg.winfo_children())
            self.assertEqual(len(tabs), 1)
            nb = tabs[0]
            labels = [nb.tab(t, 'text') for t in nb.tabs()]
            for expected in ('Input', 'Compute', 'Regularization'):
                self.assertIn(expected, labels)
            for t in nb.tabs():
                nb.select(t)
                win.root.update()
            nb.select(nb.tabs()[0])
            self._screenshot(win.root, os.path.join(self.proj.path, 'form_Input.png'))

            nb.select(nb.tabs()[labels.index('Regularization')])
            for name in ('enhancer', 'gate', 'fscGuard', 'demGpus', 'demBatchSize',
                         'enhancerTimeout', 'customModel'):
                self.assertIn(name, win.widgetDict)
            # every denoiser choice: the conditional fields follow
            for i, choice in enumerate(form_choices()):
                backend = BACKENDS[choice.name]
                win.widgetDict['enhancer'].set(i)
                win.root.update()
                self.assertEqual(prot.enhancer.get(), i)
                self.assertEqual(prot.evalParamCondition('demGpus'), backend.uses_gpu)
                self.assertEqual(prot.evalParamCondition('customModel'), backend.user_model)
                self.assertEqual(prot.evalParamCondition('gate'), choice.name != 'none')
            win.widgetDict['enhancer'].set(choice_index('deepemhancer', processing_type='tightTarget'))
            win.root.update()
            self._screenshot(win.root, os.path.join(self.proj.path, 'form_Regularization.png'))
            self.assertEqual(errors, [], 'Tk reported errors: %s' % errors)
            print('form screenshots in %s' % self.proj.path)
        finally:
            win.root.destroy()

    def test_protocol_tree(self):
        """protocols.conf places the protocol under 3D > Refine, beside RELION's."""
        import pyworkflow as pw
        import pyworkflow.gui.project  # noqa: F401
        from pyworkflow.gui.project.viewprotocols_extra import ProtocolTreeConfig
        tree = ProtocolTreeConfig.load(pw.Config.getDomain(), pw.Config.SCIPION_PROTOCOLS)
        found = {}

        def walk(node, path):
            for child in node.childs:
                here = path + [str(child.text)]
                if str(getattr(child, 'value', None)) in ('ProtRelionDemRefine', 'ProtRelionRefine3D'):
                    found[str(child.value)] = here[:-1]
                walk(child, here)
        walk(tree['Protocols SPA'], [])
        self.assertEqual(found.get('ProtRelionDemRefine'), ['3D', 'Refine'], found)
        self.assertEqual(found.get('ProtRelionDemRefine'), found.get('ProtRelionRefine3D'))


if __name__ == '__main__':
    unittest.main()
