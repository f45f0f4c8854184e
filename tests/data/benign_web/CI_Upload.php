<?php
defined('BASEPATH') OR exit('No direct script access allowed');

/**
 * CodeIgniter-style File Uploading Class (style reproduction, trimmed)
 */
class CI_Upload {

	public $max_size = 2048;
	public $allowed_types = 'gif|jpg|jpeg|png|pdf';
	public $upload_path = '';
	public $file_temp = '';
	public $file_name = '';
	public $file_type = '';
	public $file_size = NULL;
	public $file_ext = '';
	public $encrypt_name = TRUE;
	public $xss_clean = TRUE;
	public $error_msg = array();

	protected $_mimes = array(
		'gif'  => 'image/gif',
		'jpg'  => array('image/jpeg', 'image/pjpeg'),
		'jpeg' => array('image/jpeg', 'image/pjpeg'),
		'png'  => array('image/png', 'image/x-png'),
		'pdf'  => array('application/pdf', 'application/x-pdf'),
	);

	public function __construct($config = array())
	{
		foreach ($config as $key => $val)
		{
			if (property_exists($this, $key))
			{
				$this->$key = $val;
			}
		}
	}

	public function do_upload($field = 'userfile')
	{
		if ( ! isset($_FILES[$field]))
		{
			$this->set_error('upload_no_file_selected');
			return FALSE;
		}
		$_file = $_FILES[$field];

		if ( ! $this->validate_upload_path())
		{
			return FALSE;
		}

		if ( ! is_uploaded_file($_file['tmp_name']))
		{
			$this->set_error('upload_no_file_selected');
			return FALSE;
		}

		$this->file_temp = $_file['tmp_name'];
		$this->file_size = $_file['size'];
		$this->file_type = $this->_file_mime_type($_file);
		$this->file_ext  = strtolower($this->get_extension($_file['name']));

		if ( ! $this->is_allowed_filetype())
		{
			$this->set_error('upload_invalid_filetype');
			return FALSE;
		}

		if ($this->file_size > 0 && $this->file_size > $this->max_size * 1024)
		{
			$this->set_error('upload_invalid_filesize');
			return FALSE;
		}

		if ($this->is_image() && ! $this->is_real_image())
		{
			$this->set_error('upload_invalid_filetype');
			return FALSE;
		}

		// Never trust the client filename: generate a random one with a whitelisted extension.
		$this->file_name = $this->encrypt_name
			? md5(uniqid(mt_rand(), TRUE)) . '.' . $this->file_ext
			: preg_replace('/[^a-zA-Z0-9_\-]/', '_', pathinfo($_file['name'], PATHINFO_FILENAME)) . '.' . $this->file_ext;

		if ( ! @move_uploaded_file($this->file_temp, $this->upload_path . $this->file_name))
		{
			$this->set_error('upload_destination_error');
			return FALSE;
		}
		@chmod($this->upload_path . $this->file_name, 0644);

		return TRUE;
	}

	public function is_allowed_filetype()
	{
		$allowed = explode('|', $this->allowed_types);
		if ( ! in_array($this->file_ext, $allowed, TRUE))
		{
			return FALSE;
		}
		$mime = $this->_mimes[$this->file_ext];
		return is_array($mime) ? in_array($this->file_type, $mime, TRUE) : ($mime === $this->file_type);
	}

	public function is_image()
	{
		return in_array($this->file_ext, array('gif', 'jpg', 'jpeg', 'png'), TRUE);
	}

	public function is_real_image()
	{
		return (bool) @getimagesize($this->file_temp);
	}

	public function validate_upload_path()
	{
		if ($this->upload_path === '' || ! is_dir($this->upload_path) || ! is_writable($this->upload_path))
		{
			$this->set_error('upload_not_writable');
			return FALSE;
		}
		$this->upload_path = rtrim(str_replace('\\', '/', realpath($this->upload_path)), '/') . '/';
		return TRUE;
	}

	public function get_extension($filename)
	{
		$x = explode('.', $filename);
		return count($x) > 1 ? end($x) : '';
	}

	protected function _file_mime_type($file)
	{
		if (function_exists('finfo_file'))
		{
			$finfo = @finfo_open(FILEINFO_MIME_TYPE);
			if ($finfo !== FALSE)
			{
				$mime = @finfo_file($finfo, $file['tmp_name']);
				finfo_close($finfo);
				if (is_string($mime)) return $mime;
			}
		}
		return $file['type'];
	}

	public function set_error($msg)
	{
		$this->error_msg[] = $msg;
	}
}
